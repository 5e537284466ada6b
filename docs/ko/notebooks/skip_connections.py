# translated_from: 9aa4081b20bb252157c81c83fff1d3265a19b6f4
# %% [markdown]
# # 스킵 연결은 왜 필요한가
#
# 강의 노트는 깊은 플레인 네트워크(plain network)에서는 입력 쪽으로 돌아가는 기울기(gradient)가
# 사라지는 *기울기 소실(vanishing gradient)* 문제가 생기고, 스킵 연결(skip connection)이
# 이를 해결한다고 말합니다("ResNet 3줄 요약": "문제 : Gradient Vanishing → skip-connection으로
# 해결해주자!"). ResNet 논문은 더 신중합니다(4.1절). 논문의 플레인 네트워크에는
# 배치 정규화(batch normalisation)가 들어 있습니다. 저자들은 배치 정규화가 "ensures forward
# propagated signals to have non-zero variances"(순전파되는 신호의 분산이 0이 아니게 한다)라고 쓰고,
# "verify that the backward propagated gradients exhibit healthy norms with BN"(BN이 있으면
# 역전파되는 기울기의 노름이 정상임을 확인했다)이라고도 씁니다. 그래서 저자들은 더 깊은
# 플레인 네트워크의 훈련 오차(training error)가 더 높은 현상을 기울기 소실이 아니라
# *최적화의 어려움*(optimisation difficulty), 곧 성능 저하(degradation)라고 부릅니다.
#
# 이 페이지는 두 가지를 모두 측정합니다. 먼저 초기화 시점에 각 층(layer)에 도달하는 기울기를
# 논문의 CIFAR용 ResNet 20층, 56층, 110층과 그 플레인 쌍둥이(같은 네트워크에 `PlainBlock`을 쓴 것,
# 즉 덧셈이 없는 것), 그리고 [사전 활성화(pre-activation)](../../preact_resnet/) 쌍둥이에서
# 잽니다. 다음으로 20층과 56층의 플레인 네트워크와 잔차(residual) 네트워크를 각각 시드(seed) 세 개로
# 원사이클(one-cycle) 스케줄이 끝날 때까지 훈련합니다. 모든 실행은 시드를 고정하며, 아래 출력은
# 저장된 한 번의 실행입니다(실행한 기계와 날짜는 페이지 맨 위에 있습니다).

# %% [markdown]
# ## 초기화 시점의 기울기 {#gradients-at-initialisation}
#
# 숫자 이미지 64장으로 된 배치 하나(아래에서 훈련할 때와 같은 16x16 픽셀)로 훈련 모드에서
# 순전파와 역전파를 한 번 하고(BN은 훈련 때처럼 배치의 통계를 씁니다), 가중치(weight)가 있는
# 모든 층에서 그 가중치의 기울기 노름을 잽니다. 층 번호는 첫 합성곱(convolution)이 1,
# 분류기가 6n + 2입니다. 세 종류의 네트워크는 가중치가 있는 층이 똑같고, 그 층들을 무엇으로
# 잇는지만 다릅니다.
#
# - **ResNet**: $y = \operatorname{ReLU}(x + \mathcal{F}(x))$, 논문의 블록입니다.
# - **pre-activation**(사전 활성화): $y = x + \mathcal{F}(x)$ 이고 BN과 ReLU를
#   $\mathcal{F}$ 안으로 옮겼기 때문에 숏컷(shortcut) 위에는 아무것도 없습니다.
# - **plain**(플레인): $y = \operatorname{ReLU}(\mathcal{F}(x))$, 숏컷이 없습니다.
#
# 세 네트워크 모두 두 논문의 초기화에서 시작하며, 모든 합성곱은 He 초기화를 씁니다. 그래서
# 사전 활성화 네트워크는 `zero_init_residual=False`로 만듭니다. 이 네트워크의 기본값은 각 가지의
# 마지막 합성곱을 0으로 두는데, 그러면 초기화 시점에 모든 블록이 항등 매핑(identity mapping)이
# 되고, 그 합성곱 앞에 있는 가중치의 기울기가 0이 되기 때문입니다.

# %% [markdown]
# 위 그림은 깊이(20, 56, 110층)마다 하나씩, 가로축에 층 번호(1 = 첫 합성곱, 마지막 = 분류기)를,
# 세로축에 로그 눈금으로 가중치의 기울기 노름을 그립니다. 파란 선은 ResNet, 초록 선은
# 사전 활성화 ResNet, 주황 선은 플레인 네트워크입니다.
#
# 첫 합성곱의 기울기 노름을 네트워크 전체 층의 중앙값으로 나눈 비율을 보면, 기울기가 입력으로
# 돌아가는 길에 약해지는지(비율이 1보다 훨씬 작음) 커지는지(1보다 훨씬 큼) 알 수 있습니다.

# %% [markdown]
# ### 블록을 지나며: 항등 매핑은 정확한가? {#through-the-blocks-is-the-identity-exact}
#
# 사전 활성화 블록은 $x_{l+1} = x_l + \mathcal{F}(x_l)$ 를 계산하므로, 이 블록이 뒤로 보내는
# 기울기는 다음과 같습니다:
# $\frac{\partial \mathcal{E}}{\partial x_l} = \frac{\partial \mathcal{E}}{\partial x_{l+1}}
# \left(I + \frac{\partial \mathcal{F}}{\partial x_l}\right)$.
# 즉 블록이 받은 기울기는 그대로 통과하고, 그 위에 잔차 항이 더해집니다. 잔차 항이 이를
# 상쇄할 때에만 블록이 받은 것보다 *적은* 기울기를 돌려보낼 수 있습니다. 원래 블록에서는
# 덧셈 뒤의 ReLU가 합이 음수인 곳마다 두 항을 모두 가립니다. 아래 표는 모양을 유지하는
# 블록마다의 *역방향 이득*(backward gain), 곧 블록 입력에서의 기울기 노름을 출력에서의
# 기울기 노름으로 나눈 값입니다. 다운샘플링(downsampling)하는 두 블록은 뺐습니다. 그 두
# 블록에서는 숏컷이 네 위치 가운데 세 곳을 버리고, 그곳의 기울기도 함께 버리기 때문입니다.

# %% [markdown]
# ## 플레인 네트워크와 잔차 네트워크의 훈련 {#training-plain-and-residual-networks}
#
# 논문의 그림 6은 20층부터 110층까지의 플레인 네트워크와 잔차 네트워크를 CIFAR-10으로
# 훈련합니다. 더 깊은 *플레인* 네트워크가 더 높은 훈련 오차로 끝나는 반면(성능 저하, 왼쪽),
# 더 깊은 *ResNet*은 더 낮은 훈련 오차로 끝납니다(가운데). 이 페이지에서는 같은 네 네트워크를
# `digits`로 훈련합니다. scikit-learn에 들어 있는 손글씨 숫자 1,797장(훈련용 1,437장,
# 시험용 360장)이라 따로 내려받을 필요가 없습니다. 이미지는 8x8 회색조 픽셀이며, 16x16으로
# 키워서(각 픽셀을 반복) 넣고, CIFAR-10의 데이터 증강(data augmentation) 중
# 무작위 자르기(random crop)를 씁니다(이 크기에서는 패딩 2픽셀, 뒤집기 없음). CIFAR-10과의 세
# 가지 차이가 아래 결과에 중요합니다. 훈련 이미지가 20분의 1이고, 열 가지 사물 대신 열 가지
# 단순한 모양이며, 이미지 크기가 4분의 1이어서 20층 네트워크만으로도 이미 이 과제에 필요한
# 것보다 용량(capacity)이 큽니다. `DATA_ROOT`를 설정하면 같은 셀이 대신 32x32 CIFAR-10으로
# 훈련합니다.
#
# 훈련 레시피(recipe)는 `refimpl.tools.train.fit`의 것입니다. 네스테로프 모멘텀(Nesterov momentum)을 쓰는
# SGD, 전체 스텝의 처음 4분의 1 동안 최댓값 0.1까지 올라갔다가(워밍업) 거의 0까지 줄어드는
# 원사이클 학습률(learning rate), 가중치 감쇠(weight decay) 5e-4, 배치 크기 64이며, 훈련 손실이
# 0에 이를 수 있도록 레이블 스무딩(label smoothing)은 쓰지 않습니다. 시드 하나가 초기 가중치,
# 배치 순서, 데이터 증강을 정하며, 플레인 네트워크와 그 ResNet 쌍둥이에서 똑같습니다.
# 훈련 오차는 논문처럼 각 에포크(epoch) 동안 증강된 배치에서 잽니다.

# %% [markdown]
# 선은 시드들의 중앙값, 띠는 그 범위(최솟값에서 최댓값까지)입니다. 위 그래프는 각 에포크 동안
# 증강된 배치에서 잰 훈련 오차(%), 아래 그래프는 에포크가 끝날 때마다 잰 시험 오차(test error, %)입니다.
#
# ## 이 실행이 보여 주는 것 {#what-this-run-shows}
