/*
 * The pool worker's fast path for a chunk of numbers: `pool:map(f, xs)`
 * where the chunk's items arrived packed (all integers or all floats, see
 * PackedNumbers.swift). The items are called straight from their packed
 * bytes and the results, while they stay numbers of one subtype, are packed
 * straight into the same block: no items table, no results table, no codec
 * pass over either. A result of any other kind (nil, a string, the other
 * subtype, an error) "spills" the results into a Lua table, kept as the
 * block's user value, and the chunk goes on from there as before.
 *
 * The loop is C, not Swift, because `f` may raise: the error unwinds
 * (longjmp) through this frame to the worker's xpcall, which only C frames
 * may be crossed by. The block is a full userdata: Lua owns its memory.
 */
#ifndef FORKLIFT_PACKED_MAP_H
#define FORKLIFT_PACKED_MAP_H

#include "task_loop.h"
#include <string.h>

/* Item and result kinds, as PackedNumbers.Kind. */
#define FORKLIFT_PACKED_VALUES 0
#define FORKLIFT_PACKED_INTEGERS 1
#define FORKLIFT_PACKED_FLOATS 2
#define FORKLIFT_PACKED_UNDECIDED 255
#define FORKLIFT_PACKEDMAP_METATABLE "multiprocessing.PackedMap"

typedef struct forklift_PackedMap {
    forklift_TaskLoop loop; /* count, next, progress word (task_loop.h) */
    uint8_t item_kind;      /* integers or floats */
    uint8_t result_kind;    /* integers, floats, undecided (none yet) or values (spilled to the user value) */
    uint8_t pad[6];
    /* then: count items, count results, 8 bytes each, host byte order */
} forklift_PackedMap;

static inline int64_t *forklift_packedmap_items(forklift_PackedMap *m) { return (int64_t *)(m + 1); }
static inline int64_t *forklift_packedmap_results(forklift_PackedMap *m) {
    return (int64_t *)(m + 1) + m->loop.count;
}
static inline size_t forklift_packedmap_size(int64_t count) {
    return sizeof(forklift_PackedMap) + (size_t)count * 16;
}

/* Moves the packed results 1..upto into a new table (room for all items),
 * made the block's user value; the block at stack index `block`. */
static inline void forklift_packedmap_spill(lua_State *L, int block, forklift_PackedMap *m, int64_t upto) {
    int64_t *results = forklift_packedmap_results(m);
    lua_createtable(L, m->loop.count > INT32_MAX ? INT32_MAX : (int)m->loop.count, 0);
    for (int64_t j = 1; j <= upto; j++) {
        if (m->result_kind == FORKLIFT_PACKED_INTEGERS) lua_pushinteger(L, results[j - 1]);
        else { double d; memcpy(&d, &results[j - 1], 8); lua_pushnumber(L, d); }
        lua_rawseti(L, -2, j);
    }
    lua_setiuservalue(L, block, 1);
    m->result_kind = FORKLIFT_PACKED_VALUES;
}

/* Stores the value on top of the stack as result j and pops it. */
static inline void forklift_packedmap_store(lua_State *L, int block, forklift_PackedMap *m, int64_t j) {
    if (m->result_kind != FORKLIFT_PACKED_VALUES) {
        if (lua_type(L, -1) == LUA_TNUMBER) {
            int integer = lua_isinteger(L, -1);
            if (m->result_kind == FORKLIFT_PACKED_UNDECIDED)
                m->result_kind = integer ? FORKLIFT_PACKED_INTEGERS : FORKLIFT_PACKED_FLOATS;
            if (integer && m->result_kind == FORKLIFT_PACKED_INTEGERS) {
                forklift_packedmap_results(m)[j - 1] = lua_tointegerx(L, -1, NULL);
                lua_settop(L, -2);
                return;
            }
            if (!integer && m->result_kind == FORKLIFT_PACKED_FLOATS) {
                double d = lua_tonumberx(L, -1, NULL);
                memcpy(&forklift_packedmap_results(m)[j - 1], &d, 8);
                lua_settop(L, -2);
                return;
            }
        }
        if (m->result_kind == FORKLIFT_PACKED_UNDECIDED) m->result_kind = FORKLIFT_PACKED_INTEGERS; /* nothing packed yet */
        forklift_packedmap_spill(L, block, m, j - 1);
    }
    lua_getiuservalue(L, block, 1);
    lua_insert(L, -2);
    lua_rawseti(L, -2, j);
    lua_settop(L, -2);
}

/* `block:run(f)`: calls f on each item from `next` on, storing the results.
 * An error from f leaves `next` at the item that raised. */
static inline int forklift_packedmap_run(lua_State *L) {
    forklift_PackedMap *m = (forklift_PackedMap *)luaL_checkudata(L, 1, FORKLIFT_PACKEDMAP_METATABLE);
    lua_settop(L, 2);
    int64_t *items = forklift_packedmap_items(m);
    int integers = m->item_kind == FORKLIFT_PACKED_INTEGERS;
    for (int64_t j = m->loop.next; j <= m->loop.count; j++) {
        m->loop.next = j;
        forklift_taskloop_mark(&m->loop, j);
        lua_pushvalue(L, 2);
        if (integers) lua_pushinteger(L, items[j - 1]);
        else { double d; memcpy(&d, &items[j - 1], 8); lua_pushnumber(L, d); }
        lua_call(L, 1, 1);
        forklift_packedmap_store(L, 1, m, j);
    }
    m->loop.next = m->loop.count + 1;
    return 0;
}

/* `block:skip()` → j: result j (the item that raised) is nil; runs resume after it. */
static inline int forklift_packedmap_skip(lua_State *L) {
    forklift_PackedMap *m = (forklift_PackedMap *)luaL_checkudata(L, 1, FORKLIFT_PACKEDMAP_METATABLE);
    lua_settop(L, 1);
    int64_t j = m->loop.next;
    if (j > m->loop.count) return 0;
    lua_pushnil(L);
    forklift_packedmap_store(L, 1, m, j);
    m->loop.next = j + 1;
    lua_pushinteger(L, j);
    return 1;
}

#endif
