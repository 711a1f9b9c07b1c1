"""`tailor synth`: a checked test set from the documents alone (entry point: tailor.synth.pipeline.synthesize)."""
