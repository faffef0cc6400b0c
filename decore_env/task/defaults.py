"""The defaults of a task: the paper's numbers and our documented choices (imports no torch)."""

DEFAULT_MODEL = "lenet5"
DEFAULT_DATASET = "embedded"
DEFAULT_LAM = 6.0
"""lambda of the default task (LeNet-5 on the embedded MNIST subset), used by ``gym.make``,
``decore compress`` and ``decore demo`` alike. Dropping pays while the accuracy exceeds the
break-even lam / (1 + lam) = 85.7%; the shipped LeNet-5 classifies about 98% correctly, so the
agents can drop many channels before the reward turns, and a 1-point accuracy loss already
costs more than it pays. Measured with the demo (seeds 0 to 2): 7.6x to 10.1x fewer params
at -0.17 to +0.03 points."""
PAPER_BATCH = 256
"""Images per policy step (paper)."""
JOINT_LR = 0.01
"""SGD learning rate of the network during joint training (our choice: the paper trains the
network jointly with SGD but gives no rate; 0.01 suits a pretrained network)."""
JOINT_MOMENTUM = 0.9
"""SGD momentum of the network during joint training (our choice)."""
JOINT_WEIGHT_DECAY = 5e-4
"""Weight decay of the network during joint training (our choice, the usual CIFAR value)."""
KEEP_DECAY = 0.9
"""Decay of the observation's "kept recently" moving averages: about 1 / (1 - 0.9) = 10 steps
(our choice; the paper's agents observe nothing)."""
