# translated_from: a20f256b98b00044b2b50233ea973f016ed857e1
# %% [markdown]
# # 빠르게 둘러보기
#
# 이 페이지는 노트북입니다. 아래의 출력은 모두 그 위에 있는 코드가 만든 것입니다(실행한 기계와
# 날짜는 페이지 맨 위에 있습니다).
#
# 종류마다 네트워크를 하나씩 이름으로 만들고(ResNet, 사전 활성화(pre-activation) ResNet, DenseNet,
# SE-ResNet), 이미지 배치를 넣었을 때 무엇을 내놓는지 확인합니다.

# %% [markdown]
# 종류마다 하나씩, 무작위 가중치(weight)를 가진 네트워크에 224x224 이미지 두 장을 넣습니다. 각 네트워크는
# 이미지마다 로짓(logit) 1,000개를 내놓습니다. 같은 호출에 `weights="DEFAULT"`를 주면 공개된
# 체크포인트(checkpoint)를 고치지 않고 그대로 불러옵니다(ResNet과 DenseNet은 torchvision의 것, 나머지 둘은
# timm의 것).

# %% [markdown]
# 논문의 CIFAR-10용 ResNet-20은 숏컷(shortcut)에 매개변수(parameter)를 두지 않습니다. 그래서 깊이가 깊어져도
# 늘어나는 것은 잔차(residual) 가지의 합성곱(convolution)뿐입니다.
