#!/usr/bin/env bash
# The first measurements on a CUDA GPU, in one short run: the policy step's throughput
# (benchmarks/throughput.py) and an end-to-end compression of VGG16-BN on the embedded
# CIFAR-10 subset at DECORE-200's MACs budget (baseline, a few policy epochs, pruning, one
# fine-tuning epoch), which shows the GPU path works; the GPU tier's full rows need the whole
# CIFAR-10 and hours.
#
#   OUT=gpu-check bash scripts/gpu_check.sh
#
# Writes under $OUT (7 files at most): throughput.csv, throughput.log, smoke.log,
# smoke-report.json, nvidia-smi.txt, versions.txt. Settings (environment variables, for a
# dry run on the CPU with tiny values): DEVICE (cuda), MODELS (throughput's networks),
# SMOKE_MODEL (vgg16), SMOKE_DATA (embedded_cifar10), BASELINE_EPOCHS (3), POLICY_EPOCHS (3).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:?set OUT to the folder the results go to}
DEVICE=${DEVICE:-cuda}
MODELS=${MODELS:-lenet5 resnet20 resnet56 vgg16 resnet50}
SMOKE_MODEL=${SMOKE_MODEL:-vgg16}
SMOKE_DATA=${SMOKE_DATA:-embedded_cifar10}
BASELINE_EPOCHS=${BASELINE_EPOCHS:-3}
POLICY_EPOCHS=${POLICY_EPOCHS:-3}

mkdir -p "$OUT"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PYTHONUNBUFFERED=1 WANDB_MODE=disabled DECORE_CACHE="$work/cache"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" # the checkout, installed or not

if [ "$DEVICE" = cuda ]; then
  python -c "import torch; assert torch.cuda.is_available(), 'no CUDA GPU visible'"
  nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || true
fi
# DECORE-200's kept MACs on VGG16-BN, as the suite's GPU-tier task states it
VGG16_MACS=$(python -c "from decore_env.envs.suite import suite_task
print(suite_task('DecoreSuite-VGG16-CIFAR10-MACs35-v0').target)")
python -c "import torch, gymnasium, stable_baselines3, torch_pruning as tp, decore_env
print('torch', torch.__version__, 'cuda', torch.version.cuda, 'gymnasium', gymnasium.__version__,
      'sb3', stable_baselines3.__version__, 'torch_pruning', tp.__version__)" >"$OUT/versions.txt"

# shellcheck disable=SC2086  # MODELS is a list of names
python benchmarks/throughput.py --device "$DEVICE" --models $MODELS \
  --out "$OUT/throughput.csv" 2>&1 | tee "$OUT/throughput.log"

python -m agents.run.cli compress --model "$SMOKE_MODEL" --dataset "$SMOKE_DATA" \
  --device "$DEVICE" --baseline-epochs "$BASELINE_EPOCHS" --target-macs "$VGG16_MACS" \
  --policy-epochs "$POLICY_EPOCHS" --finetune-epochs 1 --out "$work/run" --no-progress \
  2>&1 | tee "$OUT/smoke.log"
cp "$work/run/report.json" "$OUT/smoke-report.json"
