/*
 * vhdx-metadata.c: the metadata region ([MS-VHDX] 2.6) and the parent
 * locator (2.6.2.6)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <stdint.h>
#include <sys/stat.h>

#include "vhdx-private.h"

#define LOCATOR_HEADER_SIZE 20
#define LOCATOR_ENTRY_SIZE  12
#define LOCATOR_MAX_ENTRIES 64

void
vhdx_meta_item_free(VhdxMetaItem *item)
{
    if (!item)
        return;
    g_bytes_unref(item->data);
    g_free(item);
}

VhdxMetaItem *
vhdx_meta_item_new(const char *guid, guint32 flags, const void *data, gsize len)
{
    VhdxMetaItem *item = g_new0(VhdxMetaItem, 1);
    item->item_id = vhdx_guid_const(guid);
    item->flags = flags;
    item->data = g_bytes_new(data, len);
    return item;
}

void
vhdx_meta_items_copy_vdisk(GPtrArray *from, GPtrArray *to)
{
    for (guint i = 0; i < from->len; i++) {
        VhdxMetaItem *src = from->pdata[i];
        VhdxMetaItem *copy;

        if (!(src->flags & VHDX_META_FLAG_IS_VDISK))
            continue;
        copy = g_new0(VhdxMetaItem, 1);
        copy->item_id = src->item_id;
        copy->flags = src->flags;
        copy->data = g_bytes_ref(src->data);
        g_ptr_array_add(to, copy);
    }
}

VhdxMetaItem *
vhdx_meta_item_find(GPtrArray *items, const char *guid)
{
    VhdxGuid id = vhdx_guid_const(guid);

    for (guint i = 0; i < items->len; i++) {
        VhdxMetaItem *item = items->pdata[i];
        if (vhdx_guid_equal(&item->item_id, &id) &&
            !(item->flags & VHDX_META_FLAG_IS_USER))
            return item;
    }
    return NULL;
}

static char *
utf16le_to_utf8(const guint8 *p, gsize len)
{
    g_autofree gunichar2 *units = g_new(gunichar2, len / 2 + 1);

    for (gsize i = 0; i < len / 2; i++)
        units[i] = vhdx_get_le16(p + 2 * i);
    return g_utf16_to_utf8(units, len / 2, NULL, NULL, NULL);
}

/* 2.6.2.6: parent locator header, key-value entries, UTF-16LE strings */
static gboolean
locator_parse(VhdxImage *img, GBytes *bytes, GError **error)
{
    gsize len;
    const guint8 *p = g_bytes_get_data(bytes, &len);
    VhdxGuid type, vhdx_type = vhdx_guid_const(VHDX_GUID_LOCATOR_TYPE);
    guint count;

    if (len < LOCATOR_HEADER_SIZE)
        return vhdx_fault(img, error, FALSE,
                          _("parent locator: item of %zu bytes is too short"),
                          len);
    memcpy(&type, p, 16);
    if (!vhdx_guid_equal(&type, &vhdx_type)) {
        g_autofree char *s = vhdx_guid_to_string(&type);
        return vhdx_fault(img, error, FALSE,
                          _("parent locator: unknown locator type {%s}"), s);
    }
    count = vhdx_get_le16(p + 18);
    if (count > LOCATOR_MAX_ENTRIES ||
        LOCATOR_HEADER_SIZE + (gsize) count * LOCATOR_ENTRY_SIZE > len)
        return vhdx_fault(img, error, FALSE,
                          _("parent locator: %u entries do not fit in %zu "
                            "bytes"),
                          count, len);

    for (guint i = 0; i < count; i++) {
        const guint8 *e = p + LOCATOR_HEADER_SIZE + i * LOCATOR_ENTRY_SIZE;
        guint32 koff = vhdx_get_le32(e), voff = vhdx_get_le32(e + 4);
        guint16 klen = vhdx_get_le16(e + 8), vlen = vhdx_get_le16(e + 10);
        g_autofree char *key = NULL, *value = NULL;

        if ((guint64) koff + klen > len || (guint64) voff + vlen > len ||
            klen == 0 || klen % 2 || vlen % 2)
            return vhdx_fault(img, error, FALSE,
                              _("parent locator: entry %u points outside the "
                                "item or has an odd length"),
                              i);
        key = utf16le_to_utf8(p + koff, klen);
        value = utf16le_to_utf8(p + voff, vlen);
        if (!key || !value)
            return vhdx_fault(img, error, FALSE,
                              _("parent locator: entry %u is not valid "
                                "UTF-16"),
                              i);
        g_hash_table_replace(img->locator, g_steal_pointer(&key),
                             g_steal_pointer(&value));
    }

    if (!g_hash_table_contains(img->locator, "parent_linkage"))
        return vhdx_fault(img, error, FALSE,
                          _("parent locator: the required key "
                            "parent_linkage is missing"));
    if (!g_hash_table_contains(img->locator, "relative_path") &&
        !g_hash_table_contains(img->locator, "volume_path") &&
        !g_hash_table_contains(img->locator, "absolute_win32_path"))
        return vhdx_fault(img, error, FALSE,
                          _("parent locator: no path to the parent"));
    return TRUE;
}

static const char *const locator_keys[] = {
    "parent_linkage", "parent_linkage2",     "relative_path",
    "volume_path",    "absolute_win32_path",
};

static void
append_utf16le(GByteArray *out, const char *s)
{
    glong n = 0;
    g_autofree gunichar2 *u = g_utf8_to_utf16(s, -1, NULL, &n, NULL);

    for (glong i = 0; u && i < n; i++) {
        guint8 b[2];
        vhdx_put_le16(b, u[i]);
        g_byte_array_append(out, b, 2);
    }
}

GBytes *
vhdx_locator_build(GHashTable *locator)
{
    g_autoptr(GPtrArray) keys = g_ptr_array_new();
    g_autoptr(GByteArray) strings = g_byte_array_new();
    GByteArray *out = g_byte_array_new();
    VhdxGuid type = vhdx_guid_const(VHDX_GUID_LOCATOR_TYPE);
    guint8 hdr[LOCATOR_HEADER_SIZE] = { 0 };
    g_autoptr(GList) rest = NULL;
    gsize strings_at;

    for (gsize i = 0; i < G_N_ELEMENTS(locator_keys); i++)
        if (g_hash_table_contains(locator, locator_keys[i]))
            g_ptr_array_add(keys, (gpointer) locator_keys[i]);
    rest = g_list_sort(g_hash_table_get_keys(locator), (GCompareFunc) strcmp);
    for (GList *l = rest; l; l = l->next)
        if (!g_strv_contains(locator_keys, l->data))
            g_ptr_array_add(keys, l->data);

    memcpy(hdr, &type, 16);
    vhdx_put_le16(hdr + 18, keys->len);
    g_byte_array_append(out, hdr, sizeof(hdr));
    strings_at = LOCATOR_HEADER_SIZE + keys->len * LOCATOR_ENTRY_SIZE;
    for (guint i = 0; i < keys->len; i++) {
        const char *key = keys->pdata[i];
        const char *value = g_hash_table_lookup(locator, key);
        guint8 e[LOCATOR_ENTRY_SIZE];
        gsize koff = strings_at + strings->len, voff;

        append_utf16le(strings, key);
        voff = strings_at + strings->len;
        append_utf16le(strings, value);
        vhdx_put_le32(e, koff);
        vhdx_put_le32(e + 4, voff);
        vhdx_put_le16(e + 8, voff - koff);
        vhdx_put_le16(e + 10, strings_at + strings->len - voff);
        g_byte_array_append(out, e, sizeof(e));
    }
    g_byte_array_append(out, strings->data, strings->len);
    return g_byte_array_free_to_bytes(out);
}

static gboolean
item_u32(GBytes *b, gsize at, guint32 *out)
{
    gsize len;
    const guint8 *p = g_bytes_get_data(b, &len);
    if (at + 4 > len)
        return FALSE;
    *out = vhdx_get_le32(p + at);
    return TRUE;
}

static gboolean
item_u64(GBytes *b, guint64 *out)
{
    gsize len;
    const guint8 *p = g_bytes_get_data(b, &len);
    if (len < 8)
        return FALSE;
    *out = vhdx_get_le64(p);
    return TRUE;
}

static gboolean
is_known_item(const VhdxGuid *id)
{
    static const char *const known[] = {
        VHDX_GUID_FILE_PARAMETERS, VHDX_GUID_VIRTUAL_SIZE,
        VHDX_GUID_VIRTUAL_DISK_ID, VHDX_GUID_LOGICAL_SECTOR,
        VHDX_GUID_PHYSICAL_SECTOR, VHDX_GUID_PARENT_LOCATOR,
    };
    for (gsize i = 0; i < G_N_ELEMENTS(known); i++) {
        VhdxGuid g = vhdx_guid_const(known[i]);
        if (vhdx_guid_equal(id, &g))
            return TRUE;
    }
    return FALSE;
}

static gint
compare_entry_offset(gconstpointer a, gconstpointer b)
{
    const VhdxMetadataEntry *x = a, *y = b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

guint64
vhdx_metadata_used_length(const guint8 *table, guint64 region_length)
{
    guint64 used = MIN(region_length, VHDX_METADATA_TABLE_SIZE);
    guint count = vhdx_get_le16(table + 10);

    if (vhdx_get_le64(table) != VHDX_METADATA_SIGNATURE)
        return used; /* parse_table says what is wrong */
    count = MIN(count, VHDX_MAX_META_ENTRIES);
    for (guint i = 0; i < count; i++) {
        VhdxMetadataEntry e;
        vhdx_metadata_entry_decode(&e,
                                   table + VHDX_METADATA_ENTRY_SIZE * (i + 1));
        if (e.length > 0 && e.length <= VHDX_MAX_META_ITEM)
            used = MAX(used, MIN((guint64) e.offset + e.length, region_length));
    }
    return used;
}

/* 2.6.1: the table, then each item */
static gboolean
parse_table(VhdxImage *img, GError **error)
{
    const guint8 *m = img->meta;
    guint count;
    g_autoptr(GArray) entries =
        g_array_new(FALSE, FALSE, sizeof(VhdxMetadataEntry));

    if (vhdx_get_le64(m) != VHDX_METADATA_SIGNATURE)
        return vhdx_fault(img, error, FALSE,
                          _("metadata table: bad signature"));
    count = vhdx_get_le16(m + 10);
    if (count > VHDX_MAX_META_ENTRIES)
        return vhdx_fault(img, error, FALSE,
                          _("metadata table: %u entries, more than the "
                            "%u allowed"),
                          count, VHDX_MAX_META_ENTRIES);

    for (guint i = 0; i < count; i++) {
        VhdxMetadataEntry e;
        VhdxMetaItem *item;

        vhdx_metadata_entry_decode(&e, m + VHDX_METADATA_ENTRY_SIZE * (i + 1));
        if (e.length > 0 && (e.offset < VHDX_METADATA_TABLE_SIZE ||
                             (guint64) e.offset + e.length > img->meta_length ||
                             e.length > VHDX_MAX_META_ITEM)) {
            g_autofree char *id = vhdx_guid_to_string(&e.item_id);
            if (!vhdx_fault(img, error, TRUE,
                            _("metadata table: item {%s} (offset %u, length "
                              "%u) lies outside the metadata region"),
                            id, e.offset, e.length))
                return FALSE;
            continue;
        }
        for (guint j = 0; j < entries->len; j++) {
            VhdxMetadataEntry *o =
                &g_array_index(entries, VhdxMetadataEntry, j);
            if (vhdx_guid_equal(&o->item_id, &e.item_id) &&
                (o->flags & VHDX_META_FLAG_IS_USER) ==
                    (e.flags & VHDX_META_FLAG_IS_USER)) {
                g_autofree char *id = vhdx_guid_to_string(&e.item_id);
                return vhdx_fault(img, error, FALSE,
                                  _("metadata table: item {%s} appears "
                                    "twice"),
                                  id);
            }
        }
        if ((e.flags & VHDX_META_FLAG_IS_REQUIRED) &&
            !(e.flags & VHDX_META_FLAG_IS_USER) && !is_known_item(&e.item_id)) {
            g_autofree char *id = vhdx_guid_to_string(&e.item_id);
            if (img->problems)
                return vhdx_fault(img, error, FALSE,
                                  _("metadata table: unknown required item "
                                    "{%s}"),
                                  id);
            g_set_error(error, VHDX_ERROR, VHDX_ERROR_UNSUPPORTED,
                        _("%s: metadata item {%s} is required but not "
                          "supported"),
                        img->path, id);
            return FALSE;
        }
        g_array_append_val(entries, e);
        item = g_new0(VhdxMetaItem, 1);
        item->item_id = e.item_id;
        item->flags = e.flags;
        item->data = g_bytes_new(e.length ? m + e.offset : NULL, e.length);
        g_ptr_array_add(img->meta_items, item);
    }

    g_array_sort(entries, compare_entry_offset);
    for (guint i = 1; i < entries->len; i++) {
        VhdxMetadataEntry *a =
            &g_array_index(entries, VhdxMetadataEntry, i - 1);
        VhdxMetadataEntry *b = &g_array_index(entries, VhdxMetadataEntry, i);
        if (a->length && b->length && a->offset + a->length > b->offset)
            if (!vhdx_fault(img, error, TRUE,
                            _("metadata table: items at offsets %u and %u "
                              "overlap"),
                            a->offset, b->offset))
                return FALSE;
    }
    return TRUE;
}

gboolean
vhdx_metadata_parse(VhdxImage *img, GError **error)
{
    VhdxInfo *info = &img->info;
    VhdxMetaItem *params, *vsize, *disk_id, *lss, *pss, *locator;
    guint32 block_size = 0;
    gboolean ok = TRUE;

    g_ptr_array_set_size(img->meta_items, 0);
    g_hash_table_remove_all(img->locator);
    if (!parse_table(img, error))
        return FALSE;

    params = vhdx_meta_item_find(img->meta_items, VHDX_GUID_FILE_PARAMETERS);
    vsize = vhdx_meta_item_find(img->meta_items, VHDX_GUID_VIRTUAL_SIZE);
    disk_id = vhdx_meta_item_find(img->meta_items, VHDX_GUID_VIRTUAL_DISK_ID);
    lss = vhdx_meta_item_find(img->meta_items, VHDX_GUID_LOGICAL_SECTOR);
    pss = vhdx_meta_item_find(img->meta_items, VHDX_GUID_PHYSICAL_SECTOR);
    locator = vhdx_meta_item_find(img->meta_items, VHDX_GUID_PARENT_LOCATOR);

    if (!params || !item_u32(params->data, 0, &block_size) ||
        !item_u32(params->data, 4, &img->file_params))
        return vhdx_fault(img, error, FALSE,
                          _("metadata: the file parameters item is missing "
                            "or too short"));
    if (block_size < VHDX_MIN_BLOCK_SIZE || block_size > VHDX_MAX_BLOCK_SIZE ||
        (block_size & (block_size - 1)))
        return vhdx_fault(img, error, FALSE,
                          _("metadata: block size %u is not a power of two "
                            "between 1 MiB and 256 MiB"),
                          block_size);
    if (!lss || !item_u32(lss->data, 0, &info->logical_sector_size) ||
        (info->logical_sector_size != 512 && info->logical_sector_size != 4096))
        return vhdx_fault(img, error, FALSE,
                          _("metadata: the logical sector size is missing or "
                            "not 512 or 4096"));
    if (!pss || !item_u32(pss->data, 0, &info->physical_sector_size) ||
        (info->physical_sector_size != 512 &&
         info->physical_sector_size != 4096))
        ok = vhdx_fault(img, error, TRUE,
                        _("metadata: the physical sector size is missing or "
                          "not 512 or 4096"));
    if (!ok)
        return FALSE;
    if (!vsize || !item_u64(vsize->data, &info->virtual_size) ||
        info->virtual_size == 0 || info->virtual_size > VHDX_MAX_VIRTUAL_SIZE ||
        info->virtual_size % info->logical_sector_size)
        return vhdx_fault(img, error, FALSE,
                          _("metadata: the virtual disk size is missing, "
                            "zero, over 64 TiB or not a multiple of the "
                            "sector size"));
    if (!disk_id || g_bytes_get_size(disk_id->data) < 16)
        ok = vhdx_fault(img, error, TRUE,
                        _("metadata: the virtual disk id is missing"));
    else
        memcpy(&info->virtual_disk_id, g_bytes_get_data(disk_id->data, NULL),
               16);
    if (!ok)
        return FALSE;

    info->block_size = block_size;
    info->chunk_ratio =
        (guint32) ((VHDX_SECTORS_PER_CHUNK * info->logical_sector_size) /
                   block_size);
    info->payload_blocks = (info->virtual_size + block_size - 1) / block_size;

    if (img->file_params & VHDX_PARAMS_HAS_PARENT) {
        info->type = VHDX_DISK_DIFFERENCING;
        if (!locator)
            return vhdx_fault(img, error, FALSE,
                              _("metadata: a differencing file without a "
                                "parent locator"));
        if (!locator_parse(img, locator->data, error))
            return FALSE;
    } else if (img->file_params & VHDX_PARAMS_LEAVE_BLOCKS_ALLOCATED) {
        info->type = VHDX_DISK_FIXED;
    } else {
        info->type = VHDX_DISK_DYNAMIC;
    }

    info->parent_linkage = g_hash_table_lookup(img->locator, "parent_linkage");
    info->parent_linkage2 =
        g_hash_table_lookup(img->locator, "parent_linkage2");
    info->parent_relative_path =
        g_hash_table_lookup(img->locator, "relative_path");
    info->parent_volume_path = g_hash_table_lookup(img->locator, "volume_path");
    info->parent_absolute_win32_path =
        g_hash_table_lookup(img->locator, "absolute_win32_path");
    return TRUE;
}

guint8 *
vhdx_metadata_build(GPtrArray *items, guint32 region_length, GError **error)
{
    g_autofree guint8 *m = g_malloc0(region_length);
    guint64 at = VHDX_METADATA_TABLE_SIZE;

    if (items->len > VHDX_MAX_META_ENTRIES) {
        g_set_error(error, VHDX_ERROR, VHDX_ERROR_INVALID,
                    _("too many metadata items (%u)"), items->len);
        return NULL;
    }
    vhdx_put_le64(m, VHDX_METADATA_SIGNATURE);
    vhdx_put_le16(m + 10, items->len);
    for (guint i = 0; i < items->len; i++) {
        VhdxMetaItem *item = items->pdata[i];
        gsize len;
        const guint8 *data = g_bytes_get_data(item->data, &len);
        VhdxMetadataEntry e = {
            .item_id = item->item_id,
            .offset = len ? (guint32) at : 0,
            .length = (guint32) len,
            .flags = item->flags,
        };

        if (at + len > region_length) {
            g_set_error(error, VHDX_ERROR, VHDX_ERROR_UNSUPPORTED,
                        _("the metadata items do not fit in the metadata "
                          "region of %u bytes"),
                        region_length);
            return NULL;
        }
        vhdx_metadata_entry_encode(&e, m + VHDX_METADATA_ENTRY_SIZE * (i + 1));
        if (len)
            memcpy(m + at, data, len);
        at += len;
    }
    return g_steal_pointer(&m);
}

gboolean
vhdx_metadata_rebuild(VhdxImage *img, GError **error)
{
    g_autofree guint8 *fresh =
        vhdx_metadata_build(img->meta_items, img->meta_length, error);

    if (!fresh)
        return FALSE;
    static const guint8 zero[VHDX_SECTOR_SIZE];

    for (guint32 s = 0; s < img->meta_length / VHDX_SECTOR_SIZE; s++) {
        gsize at = (gsize) s * VHDX_SECTOR_SIZE;
        gsize held = at < img->meta_held
                         ? MIN(VHDX_SECTOR_SIZE, img->meta_held - at)
                         : 0;
        /* what was not read is zero */
        if (memcmp(fresh + at, img->meta + at, held) ||
            memcmp(fresh + at + held, zero, VHDX_SECTOR_SIZE - held))
            img->meta_dirty[s] = 1;
    }
    g_free(img->meta);
    img->meta = g_steal_pointer(&fresh);
    img->meta_held = img->meta_length;
    /* parse again so that every derived field follows the new items */
    return vhdx_metadata_parse(img, error);
}

/* A stable volume GUID for the file system holding path, and the path of
 * the file inside that volume (the volume_path key, 2.6.2.6.3). */
static char *
volume_path_for(const char *abs_path)
{
    struct stat st;
    g_autofree char *mount = g_path_get_dirname(abs_path);
    g_autofree char *id = NULL;
    g_autofree char *sum = NULL;
    g_autofree char *inside = NULL;
    g_autoptr(GString) out = NULL;

    if (stat(abs_path, &st) < 0)
        return NULL;
    for (;;) {
        struct stat up;
        g_autofree char *parent = g_path_get_dirname(mount);
        if (g_str_equal(parent, mount) || stat(parent, &up) < 0 ||
            up.st_dev != st.st_dev)
            break;
        g_free(mount);
        mount = g_steal_pointer(&parent);
    }
    if (stat(mount, &st) < 0)
        return NULL;
    id = g_strdup_printf("virthypervd-volume:%ju", (uintmax_t) st.st_dev);
    sum = g_compute_checksum_for_string(G_CHECKSUM_SHA1, id, -1);
    inside = g_str_equal(mount, "/") ? g_strdup(abs_path + 1)
                                     : g_strdup(abs_path + strlen(mount) + 1);
    out = g_string_new(NULL);
    g_string_printf(out, "\\\\?\\Volume{%.8s-%.4s-5%.3s-8%.3s-%.12s}\\", sum,
                    sum + 8, sum + 13, sum + 17, sum + 20);
    g_string_append(out, inside);
    g_strdelimit(out->str, "/", '\\');
    return g_string_free(g_steal_pointer(&out), FALSE);
}

static char *
relative_path_for(const char *child_dir, const char *parent_abs)
{
    g_auto(GStrv) from = g_strsplit(child_dir, "/", -1);
    g_auto(GStrv) to = g_strsplit(parent_abs, "/", -1);
    guint nf = g_strv_length(from), nt = g_strv_length(to);
    guint common = 0;
    g_autoptr(GString) rel = g_string_new(NULL);

    if (g_str_equal(child_dir, "/"))
        nf = 1;
    while (common < nf && common + 1 < nt &&
           g_str_equal(from[common], to[common]))
        common++;
    if (common == nf)
        g_string_append(rel, ".\\");
    for (guint i = common; i < nf; i++)
        g_string_append(rel, "..\\");
    for (guint i = common; i < nt; i++) {
        g_string_append(rel, to[i]);
        if (i + 1 < nt)
            g_string_append_c(rel, '\\');
    }
    return g_string_free(g_steal_pointer(&rel), FALSE);
}

GHashTable *
vhdx_locator_for_parent(const char *child_path, const char *parent_path,
                        const VhdxGuid *linkage, GError **error)
{
    g_autoptr(GHashTable) loc =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_autofree char *child_abs = g_canonicalize_filename(child_path, NULL);
    g_autofree char *parent_abs = g_canonicalize_filename(parent_path, NULL);
    g_autofree char *child_dir = g_path_get_dirname(child_abs);
    g_autofree char *guid = vhdx_guid_to_string(linkage);
    char *win32;
    char *volume;

    g_hash_table_insert(loc, g_strdup("parent_linkage"),
                        g_strdup_printf("{%s}", guid));
    g_hash_table_insert(loc, g_strdup("relative_path"),
                        relative_path_for(child_dir, parent_abs));
    volume = volume_path_for(parent_abs);
    if (volume)
        g_hash_table_insert(loc, g_strdup("volume_path"), volume);
    /* The host's root file system stands for drive C: */
    win32 = g_strconcat("C:", parent_abs, NULL);
    g_strdelimit(win32, "/", '\\');
    g_hash_table_insert(loc, g_strdup("absolute_win32_path"), win32);
    return g_steal_pointer(&loc);
}
