print("yolov7")
