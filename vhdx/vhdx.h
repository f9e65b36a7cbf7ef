/*
 * vhdx.h: the VHDX / AVHDX format library ([MS-VHDX] v1)
 *
 * A VhdxImage is one open file; a differencing image holds a reference to
 * its parent once opened as a chain. Reads go through the whole chain,
 * writes go to the image they are made on (the leaf) with copy-on-write at
 * sector granularity. Every update of the BAT, sector bitmaps and metadata
 * region goes through the file's log.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define VHDX_ERROR (vhdx_error_quark())
GQuark vhdx_error_quark(void);

typedef enum {
    VHDX_ERROR_IO,          /* the operating system refused a read or write */
    VHDX_ERROR_CORRUPT,     /* the file breaks the format */
    VHDX_ERROR_UNSUPPORTED, /* a valid file using something not implemented */
    VHDX_ERROR_PARENT,      /* parent missing, or its linkage does not match */
    VHDX_ERROR_INVALID,     /* a bad argument from the caller */
    VHDX_ERROR_READ_ONLY,   /* a write to an image opened read-only */
    VHDX_ERROR_BUSY,        /* another open of the file is writing it */
} VhdxErrorCode;

/* A GUID in the byte order it has on disk (Data1..3 little-endian). */
typedef struct {
    guint8 b[16];
} VhdxGuid;

gboolean vhdx_guid_is_zero(const VhdxGuid *g);
gboolean vhdx_guid_equal(const VhdxGuid *a, const VhdxGuid *b);
char *vhdx_guid_to_string(const VhdxGuid *g);
gboolean vhdx_guid_parse(const char *str, VhdxGuid *g);
void vhdx_guid_generate(VhdxGuid *g);

typedef enum {
    VHDX_DISK_FIXED,
    VHDX_DISK_DYNAMIC,
    VHDX_DISK_DIFFERENCING,
} VhdxDiskType;

const char *vhdx_disk_type_name(VhdxDiskType type);

/* Payload block states, spec 2.5.1.1 */
typedef enum {
    VHDX_BLOCK_NOT_PRESENT = 0,
    VHDX_BLOCK_UNDEFINED = 1,
    VHDX_BLOCK_ZERO = 2,
    VHDX_BLOCK_UNMAPPED = 3,
    VHDX_BLOCK_UNMAPPED_V095 = 5,
    VHDX_BLOCK_FULLY_PRESENT = 6,
    VHDX_BLOCK_PARTIALLY_PRESENT = 7,
} VhdxBlockState;

/* A read-write open holds the file exclusively, a read-only one shares it
 * with other readers (flock(2)); the other kind fails with
 * VHDX_ERROR_BUSY. */
typedef enum {
    VHDX_OPEN_READ_ONLY = 0,
    VHDX_OPEN_READ_WRITE = 1 << 0,
    /* Open the parents too; reads then go through the chain. */
    VHDX_OPEN_CHAIN = 1 << 1,
    /* Open the parents read-write as well (merge needs its target so). */
    VHDX_OPEN_PARENTS_WRITABLE = 1 << 2,
} VhdxOpenFlags;

typedef struct _VhdxImage VhdxImage;

/* What an open image says about itself; strings owned by the image. */
typedef struct {
    const char *path;
    const char *creator;
    VhdxDiskType type;
    guint64 virtual_size;
    guint64 file_size;
    guint32 block_size;
    guint32 logical_sector_size;
    guint32 physical_sector_size;
    guint32 chunk_ratio;
    guint64 payload_blocks;
    guint64 bat_entries;
    guint64 sequence_number;
    VhdxGuid file_write_guid;
    VhdxGuid data_write_guid;
    VhdxGuid log_guid;
    VhdxGuid virtual_disk_id;
    guint64 log_offset;
    guint32 log_length;
    gboolean log_replayed; /* a non-empty log was found and replayed */
    /* parent locator (differencing only; NULL otherwise) */
    const char *parent_linkage;
    const char *parent_linkage2;
    const char *parent_relative_path;
    const char *parent_volume_path;
    const char *parent_absolute_win32_path;
    /* count of payload blocks in each state, indexed by VhdxBlockState */
    guint64 block_count[8];
} VhdxInfo;

VhdxImage *vhdx_open(const char *path, VhdxOpenFlags flags, GError **error);
/* Flushes pending metadata through the log, empties the log and closes. */
gboolean vhdx_close(VhdxImage *img, GError **error);
void vhdx_free(VhdxImage *img);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VhdxImage, vhdx_free)

const VhdxInfo *vhdx_get_info(VhdxImage *img);
VhdxImage *vhdx_get_parent(VhdxImage *img);
VhdxBlockState vhdx_get_block_state(VhdxImage *img, guint64 block);

/* Reads through the chain: bytes the chain does not hold read as zeros. */
gboolean vhdx_read(VhdxImage *img, void *buf, gsize len, guint64 offset,
                   GError **error);
gboolean vhdx_write(VhdxImage *img, const void *buf, gsize len, guint64 offset,
                    GError **error);
/* Makes every write so far durable: payload, then BAT through the log. */
gboolean vhdx_flush(VhdxImage *img, GError **error);

typedef struct {
    guint64 virtual_size;
    guint32 block_size;           /* 0: 32 MiB (2 MiB for differencing) */
    guint32 logical_sector_size;  /* 0: 512 */
    guint32 physical_sector_size; /* 0: 4096 */
    gboolean fixed;
    const char *creator; /* NULL: this library's name and version */
} VhdxCreateOptions;

gboolean vhdx_create(const char *path, const VhdxCreateOptions *opts,
                     GError **error);
/* A differencing child of parent_path; sizes and disk id come from the
 * parent, block_size may differ from the parent's (0: 2 MiB). */
gboolean vhdx_create_differencing(const char *path, const char *parent_path,
                                  guint32 block_size, GError **error);

/* Points a differencing image at another parent: rewrites the parent
 * locator (paths and parent_linkage) through the log. */
gboolean vhdx_set_parent(VhdxImage *img, const char *parent_path,
                         GError **error);

typedef void (*VhdxProgressFunc)(guint64 done, guint64 total, gpointer data);

/* Merges the differencing image at child_path into its parent, the
 * direction Hyper-V merges. Safe against a crash at any write: the chain
 * view stays the same throughout, and merging again finishes the job.
 * A cancelled merge stops between two chunks and leaves the files as such
 * a crash would. */
gboolean vhdx_merge(const char *child_path, VhdxProgressFunc progress,
                    gpointer progress_data, GCancellable *cancellable,
                    GError **error);

/* One fault found by a check. */
typedef struct {
    char *path;
    char *message;
} VhdxProblem;

void vhdx_problem_free(VhdxProblem *p);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VhdxProblem, vhdx_problem_free)

/* Validates the file (and its chain when flags has VHDX_OPEN_CHAIN) without
 * modifying it. Returns the faults found, an empty array for a clean file. */
GPtrArray *vhdx_check(const char *path, VhdxOpenFlags flags);

G_END_DECLS
