"""Training the colorization network (installed as ``filmcolor.train``)."""
