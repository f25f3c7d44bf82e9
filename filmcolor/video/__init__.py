"""Video with PyAV, one module per step: :mod:`.probe` (what a film is), :mod:`.decode`
(frames out, repaired), :mod:`.mux` (containers, codecs, stream plans), :mod:`.writer`
(frames and packets in, verified, renamed into place)."""
