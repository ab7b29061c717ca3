# The benchmark's summarizer and readers (bench/summarize.py, bench/measure.py) against canned
# rows and tool output with known answers: medians, per-round ratios, failed rows left out.
# No root and no network; the benchmark itself is scripts/bench.sh, not a test.
add_test(NAME bench_summarize_self_check
         COMMAND bash ${PROJECT_SOURCE_DIR}/bench/overlay-bench.sh --self-check)
set_tests_properties(bench_summarize_self_check PROPERTIES LABELS "unit;metrics" TIMEOUT 30)
