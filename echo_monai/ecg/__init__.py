"""ECG signals: R-peak detection, signal quality, burned-in traces, cardiac phases."""
