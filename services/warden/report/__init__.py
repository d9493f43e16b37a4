"""`warden report`: the dashboards' panel queries rendered into one self-contained HTML page."""
