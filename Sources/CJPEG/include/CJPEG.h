#ifndef YOLO_CJPEG_H
#define YOLO_CJPEG_H

// jpeglib.h needs stdio's FILE and size_t declared before it.
#include <stdio.h>
#include <stddef.h>
#include <jpeglib.h>

// libjpeg reports fatal errors by calling error_exit, which by default calls exit(). Swift
// cannot setjmp, so every libjpeg call that may fail goes through one of these wrappers: each
// sets a jump point, and the installed error_exit longjmps back to it. They return 1 on
// success and 0 on failure, with the one-line reason in yolo_jpeg_error_message.

typedef struct yolo_jpeg_error yolo_jpeg_error;

yolo_jpeg_error *yolo_jpeg_error_create(void);
void yolo_jpeg_error_destroy(yolo_jpeg_error *err);
const char *yolo_jpeg_error_message(const yolo_jpeg_error *err);

// Creates the decompressor on `cinfo`, points it at the memory buffer, keeps APP1 markers
// (for Exif) and reads the header. Nothing image-sized is allocated yet.
int yolo_jpeg_read_header(j_decompress_ptr cinfo, yolo_jpeg_error *err,
                          const unsigned char *data, unsigned long size);

// Starts decompression with the output colour space already chosen by the caller, reads every
// scanline into `out` (rows `row_stride` bytes apart) and finishes. A premature end of data,
// which libjpeg only warns about, is treated as an error here.
int yolo_jpeg_read_image(j_decompress_ptr cinfo, unsigned char *out, size_t row_stride);

// Compresses interleaved 8-bit RGB into a malloc'd buffer (free it with yolo_jpeg_free).
int yolo_jpeg_encode_rgb(const unsigned char *rgb, unsigned width, unsigned height, int quality,
                         unsigned char **out, unsigned long *out_size, yolo_jpeg_error *err);

void yolo_jpeg_free(void *buffer);

#endif
