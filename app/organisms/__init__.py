"""The toy-model lab on top of the other domains: build, audit, sweep and ablate organisms."""
