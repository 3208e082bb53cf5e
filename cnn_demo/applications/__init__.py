"""The Applications section: detection, segmentation, localization, U-Net, and their metrics and figures."""
