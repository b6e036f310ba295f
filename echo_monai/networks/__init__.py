"""Networks for view classification (image and video) and LV wall segmentation."""
