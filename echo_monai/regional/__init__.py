"""Regional LV wall analysis: the six HMC-QU segments, displacement and thickening."""
