#!/bin/sh
# Runs one gtest test of BINARY and, if it fails, once more; fails if both
# runs fail. Used only for churn.sessions_ending_every_way_leave_the_node_idle,
# whose 400 streams behind the test's TCP proxy now and then never reach the
# server (an open defect, not understood: tests/CMakeLists.txt). The first
# run's output stays in the log, so a retried failure is visible.
# usage: retry_once.sh BINARY TEST_NAME
set -u
"$1" --gtest_filter="$2" && exit 0
echo "retry_once: $2 failed; running it once more (the failure above is an open defect)"
exec "$1" --gtest_filter="$2"
