# Shared by the bench scripts that run whole `veille classify` runs side by side (sourced).

# bench_texts WORK [FILE]: the paragraphs to run into WORK/texts.jsonl: FILE when given,
# else 300 paragraphs of ../shared/realnews (100 per language; read, never copied), else
# benches/data/news_paragraphs.jsonl three times.
bench_texts() {
  local work=$1 file=${2:-}
  if [ -n "$file" ]; then
    cp "$file" "$work/texts.jsonl"
  elif [ -d ../shared/realnews ]; then
    for l in sv en fr; do head -n 100 "../shared/realnews/$l.jsonl"; done > "$work/texts.jsonl"
  else
    for _ in 1 2 3; do cat benches/data/news_paragraphs.jsonl; done > "$work/texts.jsonl"
  fi
}

# bench_cpu: the CPU, its cores and the instruction sets that decide the encoder's speed.
bench_cpu() {
  echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
  echo "flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|avx512f|avx512_vnni|avx512_bf16|avx_vnni|amx_int8|amx_bf16)$' | tr '\n' ' ')"
  echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
}
