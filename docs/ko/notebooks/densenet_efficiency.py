# translated_from: db351815a9c668eb1991a56f8c6435523a11e54d
# %% [markdown]
# # DenseNet: 효율과 특징 재사용
#
# 이 페이지는 DenseNet 논문(Huang et al., [arXiv:1608.06993](https://arxiv.org/abs/1608.06993))의
# 두 가지 주장을 확인합니다.
#
# 1. **효율.** DenseNet은 더 적은 매개변수(parameter)와 더 적은 곱셈-누산 연산(multiply-accumulate, MAC)으로
#    ResNet과 같은 ImageNet 정확도에 도달합니다(논문의 그림 3).
# 2. **특징 재사용(feature reuse).** 밀집 블록(dense block)의 각 층(layer)은 앞선 모든 층의 특징 맵(feature map)을
#    읽고, 훈련을 마친 뒤에는 실제로 그중 여러 맵에, 앞쪽 층의 맵에도 가중치(weight)를 둡니다(논문의 그림 5).
#
# 강의 노트가 DenseNet의 장점(pros)으로 꼽은 parameter efficiency와 computational efficiency가 첫째 주장이고,
# Keep low-level features가 둘째 주장입니다.
#
# 첫째 부분의 숫자는 사이트를 빌드할 때 계산합니다. 매개변수와 곱셈-누산 연산은 `refimpl`이 세고,
# 정확도는 torchvision 가중치의 메타데이터에서 읽습니다. 둘째 부분은 작은 DenseNet-BC를 세 개의 시드(seed)로
# 훈련합니다.

# %% [markdown]
# ## 매개변수, GMACs, top-1 {#parameters-gmacs-and-top-1}
#
# torchvision의 **V1** 가중치만 비교합니다. DenseNet에는 다른 체크포인트(checkpoint)가 없고, 두 계열의 V1
# 가중치는 같은 종류의 훈련 레시피(recipe)에서 나왔습니다(무작위 자르기와 뒤집기를 쓴 SGD로 약 90 에포크(epoch)).
# 반면 ResNet의 V2 가중치는 훨씬 긴 최신 레시피(600 에포크, mixup, cutmix, 레이블 스무딩(label smoothing),
# EMA 등)에서 나왔으므로, 이를 비교하면 아키텍처가 아니라 레시피의 공을 재게 됩니다.
# 그래서 V2 가중치는 참고용으로만 속이 빈 표식으로 그려 둡니다.

# %% [markdown]
# 정확도로 짝지은 DenseNet과 ResNet을 하나씩 비교합니다. DenseNet이 짝지은 ResNet의 매개변수와 MAC 중
# 얼마만큼을 쓰는지, 그리고 top-1에서 얼마를 잃거나 얻는지를 봅니다.

# %% [markdown]
# ## 특징 재사용: 각 층은 앞선 어떤 특징을 읽는가? {#feature-reuse-which-earlier-features-does-each-layer-read}
#
# CIFAR용 구성을 따른 작은 DenseNet-BC입니다. 16채널 스템(stem), 층 4개로 된 밀집 블록 3개(성장률(growth rate)
# k = 8), 전이 층(transition layer)의 압축 계수(compression factor) 0.5로 이루어집니다. 오프라인 데이터셋
# `digits`(훈련 이미지 1,437장, 시험 이미지 360장, 8x8 픽셀을 16x16으로 넣으므로 마지막 블록도 4x4 맵을 봅니다)로
# 원사이클(one-cycle) 스케줄이 끝날 때까지 30 에포크 동안, 세 시드로 훈련합니다.

# %% [markdown]
# 블록의 층 $\ell$은 이어 붙이기(concatenation) $[x_0, x_1, \dots, x_{\ell-1}]$를 읽습니다. 곧 블록의 입력
# $x_0$(스템 또는 앞 전이 층의 출력)과 앞선 각 층이 새로 만든 $k$개의 맵입니다. 이 층의 첫 합성곱(convolution)인
# 1x1 병목(bottleneck)은 입력 채널마다 가중치 열이 하나씩 있으므로, 그 가중치를 출처(source)별로 나눌 수
# 있습니다. 논문의 그림 5처럼 한 칸은 그 출처의 채널들에 걸친 가중치 절댓값의 평균입니다(L1 노름을 입력 맵의
# 수로 나눈 값). 각 블록에 덧붙인 마지막 행은 블록 다음에 오는 층으로, 전이 층의 1x1 합성곱이거나 마지막
# 블록에서는 분류기입니다. 각 행을 그 행의 가장 큰 칸으로 나누어 두었으므로, 색은 한 행 안에서, 곧 읽는 층(reader)
# 하나가 기대는 출처들끼리만 비교할 수 있습니다.
#
# 논문의 맵은 CIFAR-10에서 300 에포크를 훈련한 뒤에 얻은 것으로, 이때 가중치는 무작위 초기값에서 멀리 떨어져
# 있습니다. 무작위 초기값에서는 기댓값으로 보아 모든 출처가 같은 가중치를 받습니다. 이 네트워크는 훨씬 적은
# 스텝 만에 정확도에 도달하고 가중치도 초기값 가까이에 머물기 때문에, 논문의 척도는 둘째 그림에 그립니다.
# 첫째 맵은 같은 척도로 훈련이 *바꾼* 양, $|w - w_\text{init}|$를 그린 것입니다.
