"""Camera site configuration: lane polygons, stop lines, image-to-ground homography."""
