# translated_from: af8d90dea1521aebc18418bb11a70bd0a2268d3e
# %% [markdown]
# # 펼친 관점: 블록 지우기
#
# Veit, Wilber, Belongie("Residual Networks Behave Like
# Ensembles of Relatively Shallow Networks", NeurIPS 2016,
# [arXiv:1605.06431](https://arxiv.org/abs/1605.06431))는 훈련된
# 네트워크에서 블록을 하나씩 지워 보았습니다. CIFAR-10으로 훈련한 그들의 ResNet-110(블록
# 54개)은 다운샘플링(downsampling)하는 블록 몇 개를 빼면 어느 블록 하나가 없어져도 거의
# 알아채지 못했지만, 15층(layer)짜리 VGG인 플레인 네트워크(plain network)는 어느
# 층을 지워도 우연 수준의 정확도로 떨어졌습니다. 강의 노트의 "Different view of Skip
# Connection", 곧 펼친 관점(unraveled view)에서 보면 블록 $n$개로 된
# ResNet은 길이가 서로 다른 경로 $2^n$개이고, 블록 하나를 지우면 그 블록을 지나는 절반의
# 경로만 사라집니다. 플레인 네트워크에서는 모든 경로가 모든 층을 지납니다.
#
# 이 페이지에서도 같은 실험을 합니다. ResNet-110(블록 54개)과, 규모에 따른 차이를 보기 위해
# ResNet-20(블록 9개)을 각각 plain-20(ResNet-20의 플레인 쌍둥이: 같은 층에서
# 덧셈만 뺀 네트워크)과 견줍니다. 네트워크마다 시드(seed) 세 개로, 오프라인 `digits`
# 데이터셋을 원래 크기인 8x8 픽셀 그대로 써서 더 나아지지 않을 때까지 훈련합니다(데이터셋과 훈련
# 레시피는 [스킵 연결(skip connection)은 왜 필요한가](../skip_connections/)를
# 보세요). ResNet-110의 플레인 쌍둥이는 뺐습니다. 플레인 네트워크는 110층에 이르기 한참 전에
# 이미 잘 훈련되지 않기 때문입니다(그 페이지에서 plain-56은 이미 plain-20보다 훨씬 높은
# 오차로 끝납니다).
#
# 블록 $i$를 *지운다*는 것은 그 블록을 숏컷(shortcut)으로 바꾼다는 뜻입니다. 숏컷은
# 항등 매핑(identity mapping)이거나, 블록이 해상도를 절반으로 줄이고 채널을 두 배로 늘리는
# 곳에서는 매개변수(parameter)가 없는 `PadShortcut`(다운샘플링한 뒤 0으로
# 채움)입니다. 플레인 쌍둥이에도 같은 대체를 적용하므로 두 네트워크는 정확히 같은 층을 잃습니다. 블록을
# 지운 뒤에 다시 훈련하지 않으며, Veit et al.처럼
# 배치 정규화(batch normalisation)는 블록이 있을 때 학습한 통계를 그대로 씁니다.

# %% [markdown]
# ## 훈련 {#training}

# %% [markdown]
# ## 한 번에 한 블록씩 {#one-block-at-a-time}
#
# 블록은 `layer1.0` ... `layer3.(n-1)`이고, 두 번째와 세 번째 단계(stage)의
# 첫 블록(`layer2.0`, `layer3.0`)이 모양을 바꿉니다. 블록을 지울 때마다 훈련된
# 네트워크에서 다시 시작하고, 시험 이미지 360장 전부로 평가합니다.

# %% [markdown]
# 점은 시드들의 중앙값이고 막대는 그 범위, 점선은 온전한 네트워크의 정확도입니다(가로축은 지운 블록,
# 회색 세로선은 다운샘플링하는 블록, 회색 점선 chance는 우연 수준인 10%입니다).
#
# ## 이 실행이 보여 주는 것 {#what-this-run-shows}
