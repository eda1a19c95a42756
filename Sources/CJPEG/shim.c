#include "CJPEG.h"

#include <jerror.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

struct yolo_jpeg_error {
    struct jpeg_error_mgr pub; // first, so a j_common_ptr's err can be cast back
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};

static void yolo_jpeg_error_exit(j_common_ptr cinfo) {
    struct yolo_jpeg_error *err = (struct yolo_jpeg_error *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, err->message);
    longjmp(err->jump, 1);
}

static void yolo_jpeg_emit_message(j_common_ptr cinfo, int msg_level) {
    // Warnings (level -1) are ignored as OpenCV ignores them, except the end of data: the
    // memory source then pads with a fake EOI and libjpeg would return grey rows.
    if (msg_level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
        yolo_jpeg_error_exit(cinfo);
    }
}

static void yolo_jpeg_output_message(j_common_ptr cinfo) {
    (void)cinfo; // never print to stderr; the caller reports
}

yolo_jpeg_error *yolo_jpeg_error_create(void) {
    struct yolo_jpeg_error *err = calloc(1, sizeof(struct yolo_jpeg_error));
    if (!err) return NULL;
    jpeg_std_error(&err->pub);
    err->pub.error_exit = yolo_jpeg_error_exit;
    err->pub.emit_message = yolo_jpeg_emit_message;
    err->pub.output_message = yolo_jpeg_output_message;
    return err;
}

void yolo_jpeg_error_destroy(yolo_jpeg_error *err) { free(err); }

const char *yolo_jpeg_error_message(const yolo_jpeg_error *err) { return err->message; }

int yolo_jpeg_read_header(j_decompress_ptr cinfo, yolo_jpeg_error *err,
                          const unsigned char *data, unsigned long size) {
    cinfo->err = &err->pub;
    if (setjmp(err->jump)) return 0;
    jpeg_create_decompress(cinfo);
    jpeg_mem_src(cinfo, data, size);
    jpeg_save_markers(cinfo, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(cinfo, TRUE);
    return 1;
}

int yolo_jpeg_read_image(j_decompress_ptr cinfo, unsigned char *out, size_t row_stride) {
    struct yolo_jpeg_error *err = (struct yolo_jpeg_error *)cinfo->err;
    if (setjmp(err->jump)) return 0;
    jpeg_start_decompress(cinfo);
    while (cinfo->output_scanline < cinfo->output_height) {
        JSAMPROW row = out + (size_t)cinfo->output_scanline * row_stride;
        jpeg_read_scanlines(cinfo, &row, 1);
    }
    jpeg_finish_decompress(cinfo);
    return 1;
}

int yolo_jpeg_encode_rgb(const unsigned char *rgb, unsigned width, unsigned height, int quality,
                         unsigned char **out, unsigned long *out_size, yolo_jpeg_error *err) {
    // State that libjpeg changes after setjmp lives on the heap: automatic variables changed
    // between setjmp and longjmp are indeterminate afterwards.
    struct jpeg_compress_struct *cinfo = calloc(1, sizeof(struct jpeg_compress_struct));
    struct { unsigned char *data; unsigned long size; } *sink = calloc(1, sizeof(*sink));
    *out = NULL;
    *out_size = 0;
    if (!cinfo || !sink) {
        free(cinfo);
        free(sink);
        snprintf(err->message, sizeof(err->message), "out of memory");
        return 0;
    }
    cinfo->err = &err->pub;
    if (setjmp(err->jump)) {
        jpeg_destroy_compress(cinfo);
        free(sink->data); // the memory destination's buffer is the caller's to free
        free(sink);
        free(cinfo);
        return 0;
    }
    jpeg_create_compress(cinfo);
    jpeg_mem_dest(cinfo, &sink->data, &sink->size);
    cinfo->image_width = width;
    cinfo->image_height = height;
    cinfo->input_components = 3;
    cinfo->in_color_space = JCS_RGB;
    jpeg_set_defaults(cinfo);
    jpeg_set_quality(cinfo, quality, TRUE);
    jpeg_start_compress(cinfo, TRUE);
    while (cinfo->next_scanline < cinfo->image_height) {
        JSAMPROW row = (JSAMPROW)(rgb + (size_t)cinfo->next_scanline * width * 3);
        jpeg_write_scanlines(cinfo, &row, 1);
    }
    jpeg_finish_compress(cinfo);
    jpeg_destroy_compress(cinfo);
    *out = sink->data;
    *out_size = sink->size;
    free(sink);
    free(cinfo);
    return 1;
}

void yolo_jpeg_free(void *buffer) { free(buffer); }
