#!/usr/bin/env bash
# GPU end-to-end check of the scale-out path (one prepared script; budget ~12 min including installs).
#
#   bash bench/gpu_check.sh            # on a machine with >= 1 NVIDIA GPU
#   bash bench/gpu_check.sh --quick    # smaller workload (same steps)
#
# Steps (each one is reported; a step that cannot run says why and the script goes on):
#   0. environment: python, torch + CUDA, GPUs; asearcher importable from src/ (no reinstall of torch)
#   1. installs: vLLM into its own venv (system site packages, so the machine's torch is reused only if
#      vLLM accepts it; otherwise pip brings vLLM's pinned torch into that venv), SGLang likewise, both with a
#      time limit; wheels in ./.whl are used first (--no-index) for machines without network
#   2. model: $MODEL (path or hub name), default Qwen/Qwen2.5-0.5B-Instruct, falling back to the tiny Qwen2
#   3. vLLM server on GPU 0 (fp32 like the trainer, so the probe can be tight; memory capped so the trainer
#      fits beside it) -> 2-step async RL job
#      (`asearcher launch`, job smoke) with DISK weight sync + parity probe after every update
#   4. distributed weight sync: SGLang server if it installed, else asearcher's fake server on the GPU -> 2-step
#      job with DISTRIBUTED weight sync + parity probe (NCCL side group with >= 2 GPUs: server on GPU 0,
#      trainer on GPU 1; with one GPU they share it and the side group is gloo, as NCCL forbids that)
#   5. rollout tokens/s: vLLM server vs the in-process HFEngine on the same GPU (bench/rollout_throughput.py)
# Results: runs/gpu_check/summary.txt (and $OUT/ when set by a device runner). Last line: the headline.
set -uo pipefail
cd "$(dirname "$0")/.."
QUICK=0; [[ "${1:-}" == "--quick" ]] && QUICK=1
PY=${PYTHON:-python3}
RUN=${RUN_DIR:-runs/gpu_check}
MODEL=${MODEL:-Qwen/Qwen2.5-0.5B-Instruct}
mkdir -p "$RUN/logs"
SUMMARY="$RUN/summary.txt"; : > "$SUMMARY"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1 RAY_USAGE_STATS_ENABLED=0 HF_HUB_DISABLE_TELEMETRY=1
START=$(date +%s)
say() { echo "[$(( $(date +%s) - START ))s] $*" | tee -a "$SUMMARY"; }

# ---- 0. environment -----------------------------------------------------------------------------------
$PY - <<'EOF' 2>&1 | tee -a "$SUMMARY"
import torch, sys
print(f"python {sys.version.split()[0]}, torch {torch.__version__}, cuda {torch.version.cuda}, "
      f"gpus {torch.cuda.device_count()}: {[torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]}")
EOF
$PY -c "import torch; assert torch.cuda.is_available()" || { say "no CUDA GPU visible: nothing to check"; exit 1; }
if ! $PY -c "import asearcher.launch.worker" 2>/dev/null; then
  say "installing asearcher's light dependencies (torch untouched)"
  if [[ -d .whl ]]; then $PY -m pip install -q --no-index --find-links .whl pydantic fastapi uvicorn httpx pyyaml \
      filelock safetensors rich tqdm 2>&1 | tail -2; fi
  timeout 180 $PY -m pip install -q pydantic fastapi uvicorn httpx pyyaml filelock safetensors rich tqdm \
      bm25s PyStemmer 2>&1 | tail -2
fi
$PY -c "import asearcher.launch.worker" || { say "asearcher does not import here (see above)"; exit 1; }

# ---- 1. installs (separate venvs, time-limited) ----------------------------------------------------------
install() {  # name, venv, pip args...
  local name=$1 venv=$2; shift 2
  [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c "import $name" 2>/dev/null && return 0
  $PY -m venv --system-site-packages "$venv" || return 1
  local extra=(); [[ -d .whl ]] && extra=(--find-links .whl)
  timeout 300 "$venv/bin/pip" install -q "${extra[@]}" "$@" > "$RUN/logs/install_$name.log" 2>&1
  "$venv/bin/python" -c "import $name" 2>/dev/null
}
if install vllm .venv-gpu-vllm vllm; then VLLM_PY=.venv-gpu-vllm/bin/python; say "vLLM: $($VLLM_PY -c 'import vllm; print(vllm.__version__)')"
else VLLM_PY=""; say "vLLM: not installable here ($(tail -1 "$RUN/logs/install_vllm.log" 2>/dev/null))"; fi
if install sglang .venv-gpu-sglang "sglang[all]"; then SGL_PY=.venv-gpu-sglang/bin/python; say "SGLang: installed"
else SGL_PY=""; say "SGLang: not installable here ($(tail -1 "$RUN/logs/install_sglang.log" 2>/dev/null))"; fi

# ---- 2. model ---------------------------------------------------------------------------------------------
if ! $PY -c "from transformers import AutoConfig; AutoConfig.from_pretrained('$MODEL')" 2>/dev/null; then
  say "model $MODEL not reachable: using the random tiny Qwen2 (throughput only, no real language)"
  # building the tiny model prints progress on stdout: keep the last line (the path) only
  MODEL=$($PY -c "from asearcher.models import resolve_model_dir; print(resolve_model_dir('tiny-qwen2'))" | tail -n 1)
fi
TIED=$($PY -c "from transformers import AutoConfig; print(bool(AutoConfig.from_pretrained('$MODEL').tie_word_embeddings))")
say "model: $MODEL (tied embeddings: $TIED; vLLM's in-place reload of tied models failed on CPU, the probe checks it)"

STEPS=2; EPIS=4; NT=4; [[ $QUICK == 1 ]] && EPIS=2 && NT=2
NGPU=$($PY -c "import torch; print(torch.cuda.device_count())")
# NCCL refuses two ranks on one GPU: with one GPU the trainer shares it and the side group uses gloo.
if [[ $NGPU -ge 2 ]]; then COLOC=false; SYNCB=nccl; else COLOC=true; SYNCB=gloo; fi
job() {  # name, server type, server python, weight sync, extra server args (string)
  local name=$1 type=$2 spy=$3 sync=$4 sargs=$5
  cat > "$RUN/$name.yaml" <<EOF
out: $RUN/$name
job: smoke
servers: {type: $type, model: "$MODEL", python: "$spy", gpus_per_server: 1, max_model_len: 2048, dtype: float32,
          startup_timeout_s: 300, extra_args: [$sargs]}
trainer: {procs_per_node: 1, device: cuda, colocate: $COLOC, weight_sync: $sync, sync_backend: $SYNCB,
          probe_atol: 0.01}
train_overrides: [model.name=$MODEL, rollout.batch_size=$EPIS, rollout.n_trajs=$NT, rollout.max_concurrent=$EPIS,
                  trainer.steps=$STEPS, trainer.lr=1e-6, agent.max_turns=3, agent.max_new_tokens=128,
                  monitoring.tensorboard=false]
EOF
  local t0=$(date +%s)
  if timeout 420 $PY -m asearcher.cli.main launch --config "$RUN/$name.yaml" --launcher local > "$RUN/logs/$name.log" 2>&1; then
    say "$name: OK in $(( $(date +%s) - t0 ))s; $(grep -ho 'parity probe ok at version [0-9]*: max |Δlogprob| = [0-9.e+-]*' "$RUN/$name/logs/trainer.log" | tr '\n' ';')"
  else
    say "$name: FAILED after $(( $(date +%s) - t0 ))s: $(grep -h -E 'Error|error' "$RUN/$name/logs/trainer.log" "$RUN/logs/$name.log" 2>/dev/null | tail -2 | cut -c1-300)"
  fi
}

# ---- 3. vLLM + disk sync ------------------------------------------------------------------------------------
if [[ -n "$VLLM_PY" ]]; then job vllm_disk vllm "$PWD/$VLLM_PY" disk '"--gpu-memory-utilization", "0.35"'
else say "vllm_disk: skipped (no vLLM)"; fi

# ---- 4. NCCL weight sync ------------------------------------------------------------------------------------
say "distributed sync backend: $SYNCB ($NGPU GPU(s))"
if [[ -n "$SGL_PY" ]]; then job "sglang_$SYNCB" sglang "$PWD/$SGL_PY" distributed '"--mem-fraction-static", "0.35"'
else job "fake_$SYNCB" fake "$(command -v $PY)" distributed ''; fi

# ---- 5. rollout tokens/s vs in-process ------------------------------------------------------------------------
if [[ -n "$VLLM_PY" ]]; then
  PORT=$($PY -c "from asearcher.launch.servers import free_port; print(free_port())")
  VLLM_SERVER_DEV_MODE=1 CUDA_VISIBLE_DEVICES=0 $VLLM_PY -m vllm.entrypoints.openai.api_server --model "$MODEL" \
    --host 127.0.0.1 --port "$PORT" --gpu-memory-utilization 0.35 --max-model-len 2048 --dtype float32 \
    --logprobs-mode processed_logprobs > "$RUN/logs/bench_vllm.log" 2>&1 &
  SP=$!
  for _ in $(seq 1 240); do curl -sf "127.0.0.1:$PORT/health" > /dev/null && break; sleep 1; done
  EP=32; [[ $QUICK == 1 ]] && EP=8
  $PY bench/rollout_throughput.py --url "http://127.0.0.1:$PORT" --kind vllm --model "$MODEL" --device cuda \
    --episodes $EP --turns 4 --gen 128 --obs 64 --max-batch $EP 2>&1 | grep -v -i warn | tail -3 | tee -a "$SUMMARY"
  kill $SP; wait $SP 2>/dev/null
else
  say "throughput: skipped (no vLLM)"
fi
[[ -n "${OUT:-}" ]] && cp "$SUMMARY" "$OUT/" && cp -r "$RUN/logs" "$OUT/logs" 2>/dev/null
say "total: $(( $(date +%s) - START ))s"
tail -n 4 "$SUMMARY" | grep -h "remote_vs_inprocess_tokens_per_s" || echo "remote_vs_inprocess_tokens_per_s: n/a"
