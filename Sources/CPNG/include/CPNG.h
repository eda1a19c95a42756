#ifndef YOLO_CPNG_H
#define YOLO_CPNG_H

#include <stddef.h>
#include <png.h>

// libpng reports errors by longjmp to a jump point that Swift cannot set. The calls that can
// fail go through these wrappers, each of which sets the jump point; they return 1 on success
// and 0 on failure with a one-line reason in yolo_png_reader_message. Warnings are silenced.

typedef struct yolo_png_reader yolo_png_reader;

// Reads from a memory buffer that must outlive the reader.
yolo_png_reader *yolo_png_reader_create(const unsigned char *data, size_t size);
void yolo_png_reader_destroy(yolo_png_reader *reader);
const char *yolo_png_reader_message(const yolo_png_reader *reader);
png_structp yolo_png_reader_png(yolo_png_reader *reader);
png_infop yolo_png_reader_info(yolo_png_reader *reader);
png_infop yolo_png_reader_end_info(yolo_png_reader *reader);

// Reads the signature and every chunk up to the image data.
int yolo_png_read_info(yolo_png_reader *reader);

// Decodes the image as 8-bit RGB with OpenCV's IMREAD_COLOR transforms (see the .c file) into
// `out`, rows `row_stride` bytes apart, then reads the chunks after the image data.
int yolo_png_read_rgb8(yolo_png_reader *reader, unsigned char *out, size_t row_stride);

// Compresses interleaved 8-bit RGB into a malloc'd buffer (free it with yolo_png_free).
int yolo_png_encode_rgb(const unsigned char *rgb, unsigned width, unsigned height,
                        unsigned char **out, size_t *out_size, char *message, size_t message_size);

void yolo_png_free(void *buffer);

#endif
