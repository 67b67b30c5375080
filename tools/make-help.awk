# `make help`: targets with a `## text` comment, grouped by their `##@ Section` header and
# printed in the order of the work (ORDER); sections not in ORDER follow in file order.
# Colour only on a terminal (COLOR=1).
BEGIN {
  FS = ":.*## "
  n = split("Main job|Data|Pipeline|Search|Firmware|HIL|CI and releases|Monitoring|Tests|Benchmarks|Setup", order, "|")
  if (COLOR) { bold = "\033[1m"; cyan = "\033[36m"; reset = "\033[0m" }
}
/^##@/ { section = substr($0, 5); if (!(section in seen)) { seen[section] = 1; sections[++ns] = section } next }
/^[a-zA-Z0-9_.-]+:.*## / { lines[section] = lines[section] sprintf("  %s%-22s%s %s\n", cyan, $1, reset, $2) }
END {
  for (i = 1; i <= n; i++) if (order[i] in lines) { printf "\n%s%s%s\n%s", bold, order[i], reset, lines[order[i]]; done[order[i]] = 1 }
  for (i = 1; i <= ns; i++) if (!(sections[i] in done) && (sections[i] in lines)) printf "\n%s%s%s\n%s", bold, sections[i], reset, lines[sections[i]]
}
