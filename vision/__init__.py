"""Vehicle detection and tracking on camera frames (Ultralytics YOLO, ONNX Runtime)."""
