#!/usr/bin/env bash
# The main job on the embedded default, with privacy: the data owner fine-tunes the project's own
# small model (models/veil-austen-tiny) with LoRA on synthetic private clinic records under he-lora,
# with an untrusted worker in a separate process over mutual TLS. The worker multiplies encrypted
# activations by the public base weights and never sees a token, a label or the adapter; its audit
# tap (every byte it received and sent) is printed beside what the data owner holds. Then the data
# owner generates before and after, and serves the adapter over the OpenAI-compatible API for one
# request — still through the worker, still encrypted.
#
# One command on a fresh machine (installs, builds); output in runs/demo/. Knobs (environment):
# VEIL_DEMO_STEPS (default 80), VEIL_DEMO_PROMPT, VEIL_DEMO_MODEL, VEIL_DEMO_DESIGN_OPTS (extra
# --opt for he-lora, e.g. "precision=exact"), VEIL_JOBS (build parallelism).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "${VEIL_JOBS:-$(nproc)}" --target veil_cli
VEIL=$PWD/build/release/bin/veil
MODEL=${VEIL_DEMO_MODEL:-models/veil-austen-tiny}
DATA=data/private/train/clinic_records.jsonl
PROMPT=${VEIL_DEMO_PROMPT:-Netherfield Hospital records that}
STEPS=${VEIL_DEMO_STEPS:-80}
OUT=runs/demo
PKI=$OUT/pki
rm -rf "$OUT"
mkdir -p "$OUT"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# Waits for a process to print its listening address into FILE and echoes HOST:PORT.
wait_for_address() {  # FILE PATTERN
  for _ in $(seq 1 600); do
    if addr=$(grep -oE "$2" "$1" 2>/dev/null | head -1) && [ -n "$addr" ]; then echo "$addr"; return 0; fi
    sleep 0.1
  done
  echo "demo: no address in $1 after 60 s:" >&2; cat "$1" >&2; return 1
}

echo "== identities: a throwaway CA, a worker and a data owner (mutual TLS, roles in the certificates)"
"$VEIL" ca init --out "$PKI/ca" --name veil-demo-ca >/dev/null
"$VEIL" cert issue --ca "$PKI/ca" --role worker --name demo-worker --ip 127.0.0.1 --out "$PKI/worker" >/dev/null
"$VEIL" cert issue --ca "$PKI/ca" --role data-owner --name demo-clinic --out "$PKI/owner" >/dev/null
ls "$PKI"/*/
TLS_W=(--tls-cert "$PKI/worker/cert.pem" --tls-key "$PKI/worker/key.pem" --tls-ca "$PKI/ca/ca.pem")
TLS_O=(--tls-cert "$PKI/owner/cert.pem" --tls-key "$PKI/owner/key.pem" --tls-ca "$PKI/ca/ca.pem")

echo
echo "== the untrusted worker (a separate process): public base weights, an audit tap of all it sees"
"$VEIL" worker --design he-lora --model "$MODEL" --listen 127.0.0.1:0 "${TLS_W[@]}" \
  --audit-dir "$OUT/worker-audit" --audit-full --audit-max-mb 256 --party demo-worker >"$OUT/worker.out" 2>"$OUT/worker.log" &
pids+=($!)
WORKER=$(wait_for_address "$OUT/worker.out" '127\.0\.0\.1:[0-9]+')
echo "worker listening on $WORKER"
HE=(--design he-lora --workers "$WORKER" "${TLS_O[@]}")
for kv in ${VEIL_DEMO_DESIGN_OPTS:-}; do HE+=(--opt "$kv"); done

"$VEIL" info "$MODEL"
echo
echo "== before fine-tuning (he-lora: the worker computes on ciphertexts): $PROMPT ..."
"$VEIL" generate --model "$MODEL" "${HE[@]}" --prompt "$PROMPT" --max-new-tokens 32 --temperature 0
echo
echo "== LoRA fine-tuning on $DATA, $STEPS steps (design: he-lora, worker $WORKER)"
"$VEIL" finetune --model "$MODEL" --data "$DATA" --out "$OUT/run" "${HE[@]}" \
  --lora-r 8 --lora-alpha 16 --seq-len 64 --batch-size 8 --max-steps "$STEPS" --lr 5e-3 --warmup 4 --eval-every 0
echo
echo "== what the data owner holds (never sent): its records, in the clear"
head -c 400 "$DATA" | head -2
echo "..."
echo
echo "== what the worker saw: its audit tap ($OUT/worker-audit)"
"$VEIL" audit "$OUT/worker-audit"
echo "(every activation and gradient arrived as an RLWE ciphertext — the 'opaque blobs' — and not one"
echo " readable tensor: no token, no label, no adapter. Every message is hashed in index.jsonl; the bytes"
echo " of the first 256 MiB are kept. Look for a record in them yourself:)"
needle=$(head -1 "$DATA" | grep -oE 'account number[^,.]*|Account number: [0-9-]+' | head -1 | grep -oE '[0-9]{4}-[0-9]{4}-[0-9]{4}' || true)
if [ -n "$needle" ] && grep -rqaF "$needle" "$OUT/worker-audit"; then
  echo "FOUND '$needle' in the worker's tap: privacy broken" >&2; exit 1
else
  echo "grep for the first record's account number ($needle) in the worker's kept bytes: not found"
fi
echo
echo "== after fine-tuning: $PROMPT ..."
"$VEIL" generate --model "$MODEL" --adapter "$OUT/run" "${HE[@]}" --prompt "$PROMPT" --max-new-tokens 32 --temperature 0
echo
echo "== serving the adapter over the OpenAI-compatible API (generation still through the worker)"
(umask 077 && openssl rand -hex 24 > "$OUT/api.key")
"$VEIL" serve --model "$MODEL" --adapter "clinic=$OUT/run" --host 127.0.0.1 --port 0 --insecure \
  --api-key-file "$OUT/api.key" \
  --design he-lora --workers "$WORKER" --peer-tls-cert "$PKI/owner/cert.pem" --peer-tls-key "$PKI/owner/key.pem" \
  --peer-tls-ca "$PKI/ca/ca.pem" >"$OUT/serve.out" 2>"$OUT/serve.log" &
pids+=($!)
SERVE=$(wait_for_address "$OUT/serve.log" '127\.0\.0\.1:[0-9]+')
echo "POST http://$SERVE/v1/completions"
curl -sS --max-time 120 "http://$SERVE/v1/completions" -H 'Content-Type: application/json' \
  -H "Authorization: Bearer $(cat "$OUT/api.key")" \
  -d "{\"model\":\"clinic\",\"prompt\":\"$PROMPT\",\"max_tokens\":24,\"temperature\":0}"
echo
echo
echo "adapter (PEFT format), metrics.jsonl, loss.svg and summary.json are in $OUT/run/;"
echo "the worker's audit tap is in $OUT/worker-audit/ (index.jsonl + every message, byte for byte)"
