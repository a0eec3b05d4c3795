"""The benchmark's sections: each measures, derives and renders its part of RESULTS.md."""
