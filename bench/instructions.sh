#!/usr/bin/env bash
# Instructions per update of the bot and the floor under callgrind (see bench/instructions.py);
# prints one JSON line. Needs valgrind (Debian: apt-get install valgrind). About two minutes.
#   bench/instructions.sh [--people N] [--database-url URL]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
python=$(readlink -f "$here/.venv/bin/python")  # valgrind wants the real interpreter
site=$("$here/.venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 2; }
work=$(mktemp -d)
trap "[ -n \"${KEEP:-}\" ] || rm -rf \"$work\"" EXIT

count() {  # target -> "instructions updates"
  local target=$1; shift
  BENCH_CALLGRIND=1 valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$work/$target.%p" "$python" -c \
    "import runpy, site, sys; site.addsitedir('$site'); sys.argv = ['instructions.py', *sys.argv[1:]]; \
runpy.run_path('$here/bench/instructions.py', run_name='__main__')" \
    --target "$target" "$@" >"$work/$target.json" 2>"$work/$target.log" \
    || { cat "$work/$target.log" >&2; exit 1; }
}
count bot "$@" & bot=$!
count floor "$@" & floor=$!
wait $bot
wait $floor
"$here/.venv/bin/python" - "$work" <<'PY'
import json, pathlib, sys
work = pathlib.Path(sys.argv[1])
out = {}
for target in ("bot", "floor"):
    run = json.loads((work / f"{target}.json").read_text().strip().splitlines()[-1])
    total = 0
    for dump in work.glob(f"{target}.*"):
        if dump.suffix in (".json", ".log"):
            continue
        for line in dump.read_text(errors="replace").splitlines():
            if line.startswith("totals:"):  # "summary:" stays 0 when counting starts late
                total += int(line.split()[1])
    out[f"{target}_updates"] = run["updates"]
    out[f"{target}_minstr_per_update"] = round(total / run["updates"] / 1e6, 3)
    out["database"], out["people"] = run["database"], run["people"]
out["instructions_ratio_to_floor"] = round(
    out["floor_minstr_per_update"] / out["bot_minstr_per_update"], 3
)
print(json.dumps(out))
PY
