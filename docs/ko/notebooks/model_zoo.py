# translated_from: 2c1780fdf640fe8c7bc5e31c8e8c44845962687f
# %% [markdown]
# # 모델 모음
#
# 모델 모음(model zoo)에 등록된 모든 모델의 torchinfo 요약을 먼저 보입니다(이름을 누르면 펼쳐집니다).
# 이어서 [코드 실습](../../practice/#7-a-measured-run)의 훈련 명령을 오프라인 `digits` 데이터셋으로
# CPU에서 실행합니다. 모델들을 체크포인트(checkpoint), 발표된 정확도와 함께 정리한 표, 곧
# `python -m refimpl list`가 출력하는 표는 [홈](../../#the-model-zoo) 페이지에 있습니다. 모델은 PyTorch의
# `meta` 장치에서 만듭니다. 실제 산술 연산은 하나도 하지 않고 텐서의 모양, 매개변수(parameter),
# 곱셈-누산(multiply-accumulate) 횟수만 구하므로, 모든 모델을 만드는 데 몇 초면 됩니다.

# %% [markdown]
# torchinfo의 곱셈-누산(mult-adds)은 배치 정규화(batch normalisation) 매개변수 하나마다 1회씩을 더
# 셉니다. 이 사이트의 GMAC 표는 PyTorch의 `FlopCounterMode`로 합성곱(convolution)과 행렬 곱만
# 세어 이것을 빼므로, torchinfo의 합계가 조금 더 큽니다.
#
# ## digits로 한 번 훈련하기 {#a-run-on-digits}
#
# [코드 실습](../../practice/#7-a-measured-run)의 명령을 그대로 실행합니다(`python -m refimpl`이 부르는
# `refimpl.tools.cli.main`을 거쳐서). 다만 `--out`만 임시 폴더로 바꾸고, 곡선은 그 폴더의 `metrics.jsonl`에서
# 다시 읽어 옵니다. 아래에 명령이 출력한 내용을 싣되, 폴더 이름이 나오는 줄은 뺐습니다.
