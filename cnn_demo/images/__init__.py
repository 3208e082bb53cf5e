"""The Images section: 2-D filtering, borders, frequency views, convolution arithmetic, and their figures.

Loading and converting pictures is not this section's subject: it lives in :mod:`cnn_demo.io.images`.
"""
