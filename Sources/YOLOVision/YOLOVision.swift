// Images: decode, letterbox, NMS, drawing.
