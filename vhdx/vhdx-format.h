/*
 * vhdx-format.h: on-disk structures of [MS-VHDX], in host order
 *
 * Each structure is decoded from its little-endian bytes when read and
 * encoded when written; nothing in between sees disk byte order.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <string.h>
#include <glib.h>

#include "vhdx.h"

#define KiB (G_GUINT64_CONSTANT(1) << 10)
#define MiB (G_GUINT64_CONSTANT(1) << 20)
#define GiB (G_GUINT64_CONSTANT(1) << 30)
#define TiB (G_GUINT64_CONSTANT(1) << 40)

/* Rounds v up to a multiple of a power of two. */
#define VHDX_ROUND_UP(v, align) (((v) + (align) -1) & ~((guint64) (align) -1))

/* 2.2: header section */
#define VHDX_FILE_ID_OFFSET       0
#define VHDX_HEADER1_OFFSET       (64 * KiB)
#define VHDX_HEADER2_OFFSET       (128 * KiB)
#define VHDX_REGION_TABLE_OFFSET  (192 * KiB)
#define VHDX_REGION_TABLE2_OFFSET (256 * KiB)
#define VHDX_HEADER_SECTION_SIZE  (1 * MiB)

#define VHDX_HEADER_SIZE       (4 * KiB)
#define VHDX_REGION_TABLE_SIZE (64 * KiB)
#define VHDX_CREATOR_SIZE      512

#define VHDX_SECTOR_SIZE 4096 /* log sectors, metadata update granule */

/* Limits this library holds every parsed value to. */
#define VHDX_MAX_VIRTUAL_SIZE (64 * TiB)
#define VHDX_MIN_BLOCK_SIZE   (1 * MiB)
#define VHDX_MAX_BLOCK_SIZE   (256 * MiB)
#define VHDX_MAX_BAT_LENGTH   (1024 * MiB)
#define VHDX_MAX_LOG_LENGTH   (64 * MiB)
#define VHDX_MAX_META_LENGTH  (32 * MiB)
#define VHDX_MAX_REGIONS      2047
#define VHDX_MAX_META_ENTRIES 2047
#define VHDX_MAX_META_ITEM    (1 * MiB)
#define VHDX_MAX_CHAIN_DEPTH  256

/* 2.5: BAT entry */
#define VHDX_BAT_STATE_MASK    0x7
#define VHDX_BAT_OFFSET_SHIFT  20
#define VHDX_SB_BLOCK_SIZE     (1 * MiB)
#define VHDX_SECTORS_PER_CHUNK (G_GUINT64_CONSTANT(1) << 23)

/* 2.5.1.2: sector bitmap block states */
#define VHDX_SB_NOT_PRESENT 0
#define VHDX_SB_PRESENT     6

static inline guint64
vhdx_bat_entry(guint state, guint64 file_offset)
{
    return (file_offset & ~(MiB - 1)) | (state & VHDX_BAT_STATE_MASK);
}

static inline guint
vhdx_bat_state(guint64 entry)
{
    return entry & VHDX_BAT_STATE_MASK;
}

static inline guint64
vhdx_bat_offset(guint64 entry)
{
    return (entry >> VHDX_BAT_OFFSET_SHIFT) * MiB;
}

/* Little-endian access to a byte buffer. */
static inline guint16
vhdx_get_le16(const guint8 *p)
{
    guint16 v;
    memcpy(&v, p, sizeof(v));
    return GUINT16_FROM_LE(v);
}

static inline guint32
vhdx_get_le32(const guint8 *p)
{
    guint32 v;
    memcpy(&v, p, sizeof(v));
    return GUINT32_FROM_LE(v);
}

static inline guint64
vhdx_get_le64(const guint8 *p)
{
    guint64 v;
    memcpy(&v, p, sizeof(v));
    return GUINT64_FROM_LE(v);
}

static inline void
vhdx_put_le16(guint8 *p, guint16 v)
{
    v = GUINT16_TO_LE(v);
    memcpy(p, &v, sizeof(v));
}

static inline void
vhdx_put_le32(guint8 *p, guint32 v)
{
    v = GUINT32_TO_LE(v);
    memcpy(p, &v, sizeof(v));
}

static inline void
vhdx_put_le64(guint8 *p, guint64 v)
{
    v = GUINT64_TO_LE(v);
    memcpy(p, &v, sizeof(v));
}

/* CRC-32C (Castagnoli) of buf with the 4 bytes at crc_offset taken as 0. */
guint32 vhdx_crc32c(const guint8 *buf, gsize len, gsize crc_offset);

/* 2.2.2: header */
typedef struct {
    guint32 signature; /* "head" */
    guint32 checksum;
    guint64 sequence_number;
    VhdxGuid file_write_guid;
    VhdxGuid data_write_guid;
    VhdxGuid log_guid;
    guint16 log_version;
    guint16 version;
    guint32 log_length;
    guint64 log_offset;
} VhdxHeader;

#define VHDX_HEADER_SIGNATURE 0x64616568 /* "head" */

void vhdx_header_decode(VhdxHeader *h, const guint8 *buf);
void vhdx_header_encode(const VhdxHeader *h, guint8 *buf); /* sets CRC */

/* 2.2.3: region table header and entries */
#define VHDX_REGION_SIGNATURE   0x69676572 /* "regi" */
#define VHDX_REGION_ENTRY_SIZE  32
#define VHDX_REGION_HEADER_SIZE 16

typedef struct {
    VhdxGuid guid;
    guint64 file_offset;
    guint32 length;
    guint32 required;
} VhdxRegionEntry;

void vhdx_region_entry_decode(VhdxRegionEntry *e, const guint8 *buf);
void vhdx_region_entry_encode(const VhdxRegionEntry *e, guint8 *buf);

/* 2.3.1.1: log entry header */
#define VHDX_LOG_ENTRY_SIGNATURE 0x65676f6c /* "loge" */
#define VHDX_LOG_ZERO_SIGNATURE  0x6f72657a /* "zero" */
#define VHDX_LOG_DESC_SIGNATURE  0x63736564 /* "desc" */
#define VHDX_LOG_DATA_SIGNATURE  0x61746164 /* "data" */
#define VHDX_LOG_HEADER_SIZE     64
#define VHDX_LOG_DESCRIPTOR_SIZE 32

typedef struct {
    guint32 signature;
    guint32 checksum;
    guint32 entry_length;
    guint32 tail;
    guint64 sequence_number;
    guint32 descriptor_count;
    VhdxGuid log_guid;
    guint64 flushed_file_offset;
    guint64 last_file_offset;
} VhdxLogEntryHeader;

void vhdx_log_header_decode(VhdxLogEntryHeader *h, const guint8 *buf);
void vhdx_log_header_encode(const VhdxLogEntryHeader *h, guint8 *buf);

/* 2.3.1.2 / 2.3.1.3: zero and data descriptors */
typedef struct {
    guint32 signature;
    guint32 trailing_bytes; /* data descriptor only */
    guint64 leading_bytes;  /* data: first 8 bytes; zero: ZeroLength */
    guint64 file_offset;
    guint64 sequence_number;
} VhdxLogDescriptor;

void vhdx_log_descriptor_decode(VhdxLogDescriptor *d, const guint8 *buf);
void vhdx_log_descriptor_encode(const VhdxLogDescriptor *d, guint8 *buf);

/* 2.6.1.1 / 2.6.1.2: metadata table */
#define VHDX_METADATA_SIGNATURE    G_GUINT64_CONSTANT(0x617461646174656d)
#define VHDX_METADATA_TABLE_SIZE   (64 * KiB)
#define VHDX_METADATA_ENTRY_SIZE   32
#define VHDX_META_FLAG_IS_USER     0x1
#define VHDX_META_FLAG_IS_VDISK    0x2
#define VHDX_META_FLAG_IS_REQUIRED 0x4

typedef struct {
    VhdxGuid item_id;
    guint32 offset;
    guint32 length;
    guint32 flags;
} VhdxMetadataEntry;

void vhdx_metadata_entry_decode(VhdxMetadataEntry *e, const guint8 *buf);
void vhdx_metadata_entry_encode(const VhdxMetadataEntry *e, guint8 *buf);

/* 2.6.2.1: file parameters flags */
#define VHDX_PARAMS_LEAVE_BLOCKS_ALLOCATED 0x1
#define VHDX_PARAMS_HAS_PARENT             0x2

/* Well-known GUIDs, as their canonical strings. */
#define VHDX_GUID_BAT_REGION      "2dc27766-f623-4200-9d64-115e9bfd4a08"
#define VHDX_GUID_METADATA_REGION "8b7ca206-4790-4b9a-b8fe-575f050f886e"
#define VHDX_GUID_FILE_PARAMETERS "caa16737-fa36-4d43-b3b6-33f0aa44e76b"
#define VHDX_GUID_VIRTUAL_SIZE    "2fa54224-cd1b-4876-b211-5dbed83bf4b8"
#define VHDX_GUID_VIRTUAL_DISK_ID "beca12ab-b2e6-4523-93ef-c309e000c746"
#define VHDX_GUID_LOGICAL_SECTOR  "8141bf1d-a96f-4709-ba47-f233a8faab5f"
#define VHDX_GUID_PHYSICAL_SECTOR "cda348c7-445d-4471-9cc9-e9885251c556"
#define VHDX_GUID_PARENT_LOCATOR  "a8d35f2d-b30b-454d-abf7-d3d84834ab0c"
#define VHDX_GUID_LOCATOR_TYPE    "b04aefb7-d19e-4a81-b789-25b8e9445913"

/* A GUID constant from its string; aborts on a malformed literal. */
VhdxGuid vhdx_guid_const(const char *str);
