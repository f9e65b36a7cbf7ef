/*
 * vhdx-format.c: byte order conversion of [MS-VHDX] structures, CRC-32C
 * and GUIDs
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <isa-l/crc.h>

#include "vhdx-format.h"

G_DEFINE_QUARK(vhdx - error - quark, vhdx_error)

guint32
vhdx_crc32c(const guint8 *buf, gsize len, gsize crc_offset)
{
    /* ISA-L's iSCSI CRC is CRC-32C without the final inversion. */
    guint32 crc = 0xffffffff;
    static const guint8 zero[4];

    g_assert(crc_offset + 4 <= len);
    g_assert(len <= G_MAXINT);
    crc = crc32_iscsi((unsigned char *) buf, (int) crc_offset, crc);
    crc = crc32_iscsi((unsigned char *) zero, 4, crc);
    crc = crc32_iscsi((unsigned char *) buf + crc_offset + 4,
                      (int) (len - crc_offset - 4), crc);
    return ~crc;
}

/* GUIDs: Data1, Data2, Data3 little-endian, Data4 as bytes. */

gboolean
vhdx_guid_is_zero(const VhdxGuid *g)
{
    static const VhdxGuid zero;
    return memcmp(g, &zero, sizeof(zero)) == 0;
}

gboolean
vhdx_guid_equal(const VhdxGuid *a, const VhdxGuid *b)
{
    return memcmp(a, b, sizeof(*a)) == 0;
}

char *
vhdx_guid_to_string(const VhdxGuid *g)
{
    const guint8 *b = g->b;
    return g_strdup_printf("%08x-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                           vhdx_get_le32(b), vhdx_get_le16(b + 4),
                           vhdx_get_le16(b + 6), b[8], b[9], b[10], b[11],
                           b[12], b[13], b[14], b[15]);
}

gboolean
vhdx_guid_parse(const char *str, VhdxGuid *g)
{
    char hex[33];
    gsize n = 0;
    gsize len;
    guint8 raw[16];

    if (!str)
        return FALSE;
    len = strlen(str);
    if (len == 38 && str[0] == '{' && str[37] == '}') {
        str++;
        len -= 2;
    }
    if (len != 36)
        return FALSE;
    for (gsize i = 0; i < len; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (str[i] != '-')
                return FALSE;
            continue;
        }
        if (!g_ascii_isxdigit(str[i]))
            return FALSE;
        hex[n++] = str[i];
    }
    hex[n] = '\0';
    for (int i = 0; i < 16; i++)
        raw[i] = (g_ascii_xdigit_value(hex[2 * i]) << 4) |
                 g_ascii_xdigit_value(hex[2 * i + 1]);
    /* raw is big-endian text order; the first three fields are stored LE */
    vhdx_put_le32(g->b, ((guint32) raw[0] << 24) | (raw[1] << 16) |
                            (raw[2] << 8) | raw[3]);
    vhdx_put_le16(g->b + 4, (raw[4] << 8) | raw[5]);
    vhdx_put_le16(g->b + 6, (raw[6] << 8) | raw[7]);
    memcpy(g->b + 8, raw + 8, 8);
    return TRUE;
}

void
vhdx_guid_generate(VhdxGuid *g)
{
    g_autofree char *s = g_uuid_string_random();
    gboolean ok = vhdx_guid_parse(s, g);
    g_assert(ok);
}

VhdxGuid
vhdx_guid_const(const char *str)
{
    VhdxGuid g;
    gboolean ok = vhdx_guid_parse(str, &g);
    g_assert(ok);
    return g;
}

/* 2.2.2 */
void
vhdx_header_decode(VhdxHeader *h, const guint8 *buf)
{
    h->signature = vhdx_get_le32(buf + 0);
    h->checksum = vhdx_get_le32(buf + 4);
    h->sequence_number = vhdx_get_le64(buf + 8);
    memcpy(&h->file_write_guid, buf + 16, 16);
    memcpy(&h->data_write_guid, buf + 32, 16);
    memcpy(&h->log_guid, buf + 48, 16);
    h->log_version = vhdx_get_le16(buf + 64);
    h->version = vhdx_get_le16(buf + 66);
    h->log_length = vhdx_get_le32(buf + 68);
    h->log_offset = vhdx_get_le64(buf + 72);
}

void
vhdx_header_encode(const VhdxHeader *h, guint8 *buf)
{
    memset(buf, 0, VHDX_HEADER_SIZE);
    vhdx_put_le32(buf + 0, VHDX_HEADER_SIGNATURE);
    vhdx_put_le64(buf + 8, h->sequence_number);
    memcpy(buf + 16, &h->file_write_guid, 16);
    memcpy(buf + 32, &h->data_write_guid, 16);
    memcpy(buf + 48, &h->log_guid, 16);
    vhdx_put_le16(buf + 64, h->log_version);
    vhdx_put_le16(buf + 66, h->version);
    vhdx_put_le32(buf + 68, h->log_length);
    vhdx_put_le64(buf + 72, h->log_offset);
    vhdx_put_le32(buf + 4, vhdx_crc32c(buf, VHDX_HEADER_SIZE, 4));
}

/* 2.2.3.2 */
void
vhdx_region_entry_decode(VhdxRegionEntry *e, const guint8 *buf)
{
    memcpy(&e->guid, buf, 16);
    e->file_offset = vhdx_get_le64(buf + 16);
    e->length = vhdx_get_le32(buf + 24);
    e->required = vhdx_get_le32(buf + 28);
}

void
vhdx_region_entry_encode(const VhdxRegionEntry *e, guint8 *buf)
{
    memcpy(buf, &e->guid, 16);
    vhdx_put_le64(buf + 16, e->file_offset);
    vhdx_put_le32(buf + 24, e->length);
    vhdx_put_le32(buf + 28, e->required);
}

/* 2.3.1.1 */
void
vhdx_log_header_decode(VhdxLogEntryHeader *h, const guint8 *buf)
{
    h->signature = vhdx_get_le32(buf + 0);
    h->checksum = vhdx_get_le32(buf + 4);
    h->entry_length = vhdx_get_le32(buf + 8);
    h->tail = vhdx_get_le32(buf + 12);
    h->sequence_number = vhdx_get_le64(buf + 16);
    h->descriptor_count = vhdx_get_le32(buf + 24);
    memcpy(&h->log_guid, buf + 32, 16);
    h->flushed_file_offset = vhdx_get_le64(buf + 48);
    h->last_file_offset = vhdx_get_le64(buf + 56);
}

void
vhdx_log_header_encode(const VhdxLogEntryHeader *h, guint8 *buf)
{
    memset(buf, 0, VHDX_LOG_HEADER_SIZE);
    vhdx_put_le32(buf + 0, VHDX_LOG_ENTRY_SIGNATURE);
    vhdx_put_le32(buf + 4, h->checksum);
    vhdx_put_le32(buf + 8, h->entry_length);
    vhdx_put_le32(buf + 12, h->tail);
    vhdx_put_le64(buf + 16, h->sequence_number);
    vhdx_put_le32(buf + 24, h->descriptor_count);
    memcpy(buf + 32, &h->log_guid, 16);
    vhdx_put_le64(buf + 48, h->flushed_file_offset);
    vhdx_put_le64(buf + 56, h->last_file_offset);
}

/* 2.3.1.2, 2.3.1.3 */
void
vhdx_log_descriptor_decode(VhdxLogDescriptor *d, const guint8 *buf)
{
    d->signature = vhdx_get_le32(buf + 0);
    d->trailing_bytes = vhdx_get_le32(buf + 4);
    d->leading_bytes = vhdx_get_le64(buf + 8);
    d->file_offset = vhdx_get_le64(buf + 16);
    d->sequence_number = vhdx_get_le64(buf + 24);
}

void
vhdx_log_descriptor_encode(const VhdxLogDescriptor *d, guint8 *buf)
{
    vhdx_put_le32(buf + 0, d->signature);
    vhdx_put_le32(buf + 4, d->trailing_bytes);
    vhdx_put_le64(buf + 8, d->leading_bytes);
    vhdx_put_le64(buf + 16, d->file_offset);
    vhdx_put_le64(buf + 24, d->sequence_number);
}

/* 2.6.1.2 */
void
vhdx_metadata_entry_decode(VhdxMetadataEntry *e, const guint8 *buf)
{
    memcpy(&e->item_id, buf, 16);
    e->offset = vhdx_get_le32(buf + 16);
    e->length = vhdx_get_le32(buf + 20);
    e->flags = vhdx_get_le32(buf + 24);
}

void
vhdx_metadata_entry_encode(const VhdxMetadataEntry *e, guint8 *buf)
{
    memset(buf, 0, VHDX_METADATA_ENTRY_SIZE);
    memcpy(buf, &e->item_id, 16);
    vhdx_put_le32(buf + 16, e->offset);
    vhdx_put_le32(buf + 20, e->length);
    vhdx_put_le32(buf + 24, e->flags);
}
