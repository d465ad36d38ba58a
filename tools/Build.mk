# Tools (weftstat, benchmarks) are added here by their issues.
