#include "CPNG.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct yolo_png_reader {
    png_structp png;
    png_infop info;
    png_infop end_info;
    const unsigned char *data;
    size_t size;
    size_t offset;
    char message[256];
};

static void yolo_png_error(png_structp png, png_const_charp text) {
    struct yolo_png_reader *reader = png_get_error_ptr(png);
    snprintf(reader->message, sizeof(reader->message), "%s", text ? text : "libpng error");
    png_longjmp(png, 1);
}

static void yolo_png_warning(png_structp png, png_const_charp text) {
    (void)png;
    (void)text;
}

static void yolo_png_read_memory(png_structp png, png_bytep dst, size_t count) {
    struct yolo_png_reader *reader = png_get_io_ptr(png);
    if (count > reader->size - reader->offset) {
        png_error(png, "file is truncated");
    }
    memcpy(dst, reader->data + reader->offset, count);
    reader->offset += count;
}

yolo_png_reader *yolo_png_reader_create(const unsigned char *data, size_t size) {
    struct yolo_png_reader *reader = calloc(1, sizeof(struct yolo_png_reader));
    if (!reader) return NULL;
    reader->data = data;
    reader->size = size;
    reader->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, reader, yolo_png_error,
                                         yolo_png_warning);
    if (reader->png) {
        reader->info = png_create_info_struct(reader->png);
        reader->end_info = png_create_info_struct(reader->png);
    }
    if (!reader->png || !reader->info || !reader->end_info) {
        yolo_png_reader_destroy(reader);
        return NULL;
    }
    png_set_read_fn(reader->png, reader, yolo_png_read_memory);
    return reader;
}

void yolo_png_reader_destroy(yolo_png_reader *reader) {
    if (!reader) return;
    if (reader->png) {
        png_destroy_read_struct(&reader->png, reader->info ? &reader->info : NULL,
                                reader->end_info ? &reader->end_info : NULL);
    }
    free(reader);
}

const char *yolo_png_reader_message(const yolo_png_reader *reader) { return reader->message; }
png_structp yolo_png_reader_png(yolo_png_reader *reader) { return reader->png; }
png_infop yolo_png_reader_info(yolo_png_reader *reader) { return reader->info; }
png_infop yolo_png_reader_end_info(yolo_png_reader *reader) { return reader->end_info; }

int yolo_png_read_info(yolo_png_reader *reader) {
    if (setjmp(png_jmpbuf(reader->png))) return 0;
    png_read_info(reader->png, reader->info);
    return 1;
}

int yolo_png_read_rgb8(yolo_png_reader *reader, unsigned char *out, size_t row_stride) {
    png_structp png = reader->png;
    png_infop info = reader->info;
    if (setjmp(png_jmpbuf(png))) return 0;
    int color_type = png_get_color_type(png, info);
    int bit_depth = png_get_bit_depth(png, info);
    // The transforms OpenCV's PngDecoder::readData asks for with IMREAD_COLOR: 16-bit samples
    // keep their high byte (strip, not scale), alpha is dropped without blending (a palette's
    // tRNS too), low-depth grey is expanded to 8 bits and grey is replicated to RGB.
    if (bit_depth == 16) png_set_strip_16(png);
    png_set_strip_alpha(png);
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if ((color_type & PNG_COLOR_MASK_COLOR) == 0 && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if ((color_type & PNG_COLOR_MASK_COLOR) == 0) png_set_gray_to_rgb(png);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    png_uint_32 width = png_get_image_width(png, info);
    png_uint_32 height = png_get_image_height(png, info);
    if (png_get_channels(png, info) != 3 || png_get_bit_depth(png, info) != 8 ||
        png_get_rowbytes(png, info) != (size_t)width * 3 || row_stride < (size_t)width * 3) {
        png_error(png, "unexpected row layout after the RGB transforms");
    }
    for (int pass = 0; pass < passes; pass++) {
        for (png_uint_32 y = 0; y < height; y++) {
            png_read_row(png, out + (size_t)y * row_stride, NULL);
        }
    }
    png_read_end(png, reader->end_info);
    return 1;
}

struct yolo_png_sink {
    unsigned char *data;
    size_t size;
    size_t capacity;
    char *message;
    size_t message_size;
};

static void yolo_png_write_memory(png_structp png, png_bytep src, size_t count) {
    struct yolo_png_sink *sink = png_get_io_ptr(png);
    if (count > sink->capacity - sink->size) {
        size_t capacity = sink->capacity ? sink->capacity : 65536;
        while (count > capacity - sink->size) {
            if (capacity > ((size_t)-1) / 2) png_error(png, "image too large to encode");
            capacity *= 2;
        }
        unsigned char *grown = realloc(sink->data, capacity);
        if (!grown) png_error(png, "out of memory");
        sink->data = grown;
        sink->capacity = capacity;
    }
    memcpy(sink->data + sink->size, src, count);
    sink->size += count;
}

static void yolo_png_flush_memory(png_structp png) { (void)png; }

static void yolo_png_write_error(png_structp png, png_const_charp text) {
    struct yolo_png_sink *sink = png_get_error_ptr(png);
    snprintf(sink->message, sink->message_size, "%s", text ? text : "libpng error");
    png_longjmp(png, 1);
}

int yolo_png_encode_rgb(const unsigned char *rgb, unsigned width, unsigned height,
                        unsigned char **out, size_t *out_size, char *message, size_t message_size) {
    // Heap state and pointers set before setjmp only, so all of it is valid after a longjmp.
    struct yolo_png_sink *sink = calloc(1, sizeof(struct yolo_png_sink));
    *out = NULL;
    *out_size = 0;
    if (!sink) {
        snprintf(message, message_size, "out of memory");
        return 0;
    }
    sink->message = message;
    sink->message_size = message_size;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, sink, yolo_png_write_error,
                                              yolo_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(png ? &png : NULL, NULL);
        free(sink);
        snprintf(message, message_size, "out of memory");
        return 0;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(sink->data);
        free(sink);
        return 0;
    }
    png_set_write_fn(png, sink, yolo_png_write_memory, yolo_png_flush_memory);
    png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (unsigned y = 0; y < height; y++) {
        png_write_row(png, (png_const_bytep)(rgb + (size_t)y * width * 3));
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    *out = sink->data;
    *out_size = sink->size;
    free(sink);
    return 1;
}

void yolo_png_free(void *buffer) { free(buffer); }
