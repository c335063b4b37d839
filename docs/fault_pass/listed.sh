#!/bin/bash
# Reproduce issue 13's numbered cases that need tools/train.py / tools/test.py (slow imports:
# run in parallel).  Usage: docs/fault_pass/listed.sh SCRATCH  (SCRATCH holds syn/, cfg.py,
# resnet14.pth, resnet8.pth and w1/ = a finished 2-epoch run of cfg.py; see fault_pass.md)
cd "$1" || exit 1
R=$(cd "$(dirname "$0")/../.." && pwd)
export PYTHONPATH=$R OMP_NUM_THREADS=1
P=${PYTHON:-python}
run() { local n=$1; shift; ( nice -n 10 "$@" > out/$n.log 2>&1; echo "rc=$?" >> out/$n.log ) & }
mkdir -p out
# 1a: --resume, last_checkpoint missing
rm -rf w1a && cp -a w1 w1a && rm w1a/last_checkpoint && stat -c '%Y %n' w1a/*.pth > out/1a.before
run 1a $P $R/tools/train.py cfg.py --work-dir w1a --resume --cfg-options train_cfg.max_epochs=3
# 1b: --resume with a mistyped work dir
run 1b $P $R/tools/train.py cfg.py --work-dir w1_typo --resume
# 4a: checkpoint of another depth (student resnet14 config, resnet8 run)
sed 's/depth=8/depth=14/' cfg.py > cfg14.py
run 4a $P $R/tools/test.py cfg14.py w1/epoch_2.pth
# 4c: exported backbone as a whole-model checkpoint
run 4c $P $R/tools/test.py cfg.py exp_r8.pth
# 5b: a diverging run (lr 1e30)
run 5b $P $R/tools/train.py cfg.py --work-dir w5 --cfg-options optim_wrapper.optimizer.lr=1e30
# 15a: --resume with another model's checkpoint
run 15a $P $R/tools/train.py cfg14.py --work-dir w15 --resume w1/epoch_2.pth
# 15b: misspelt top-level key
run 15b $P $R/tools/train.py cfg.py --work-dir w15b --cfg-options train_cgf.max_epochs=1
wait
