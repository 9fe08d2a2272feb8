#!/usr/bin/env bash
# CleanRL's 10M-step PPO and DQN on Pong, Breakout and BeamRider, DreamerV3's
# Atari 100k on Pong, Breakout and Boxing, and the table against their
# published scores: see experiments/atari_gpu.py (flags pass on).
set -euo pipefail
exec python "$(dirname "$0")/atari_gpu.py" "$@"
