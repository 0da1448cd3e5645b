/*
 * The pool worker's loops over the items of a task (a chunk): call the
 * user's function on each item and store its result, item after item.
 *
 * They are C, not Lua or Swift, for two reasons. The function may raise: the
 * error unwinds (longjmp) through the loop to the worker's xpcall, which only
 * C frames may be crossed by, and the loop resumes after the failed item
 * (`skip`). And while item j runs, the loop keeps the worker's progress word
 * in shared memory at `base + j` (the item's input index) with one plain
 * store, so that when the worker dies the parent fails that one item,
 * not its whole chunk (PoolLua's `worker_lost`).
 *
 * `forklift_TaskLoop` is the head of a full userdata: Lua owns its memory.
 */
#ifndef FORKLIFT_TASK_LOOP_H
#define FORKLIFT_TASK_LOOP_H

#include <lua.h>
#include <lauxlib.h>
#include <stdint.h>

#define FORKLIFT_TASKLOOP_METATABLE "multiprocessing.TaskLoop"

typedef struct forklift_TaskLoop {
    int64_t count;     /* items in the task */
    int64_t next;      /* 1-based index of the item to run next (the one running, during a call) */
    int64_t *progress; /* the worker's shared progress word, or NULL */
    int64_t base;      /* input index of item j is base + j */
} forklift_TaskLoop;

static inline void forklift_taskloop_mark(forklift_TaskLoop *loop, int64_t j) {
    if (loop->progress) __atomic_store_n(loop->progress, j == 0 ? 0 : loop->base + j, __ATOMIC_RELAXED);
}

/* Pushes the arguments of an argument-list item (the value at `item`) as
 * table.unpack(a, 1, a.n or #a) would, and returns how many. */
static inline int forklift_taskloop_unpack(lua_State *L, int item) {
    if (lua_type(L, item) != LUA_TTABLE)
        return luaL_error(L, "bad argument #1 to 'unpack' (table expected, got %s)", luaL_typename(L, item));
    lua_Integer n;
    if (lua_getfield(L, item, "n") != LUA_TNIL) {
        int isint = 0;
        n = lua_tointegerx(L, -1, &isint);
        if (!isint) return luaL_error(L, "bad argument #3 to 'unpack' (number has no integer representation)");
    } else {
        n = luaL_len(L, item);
    }
    lua_pop(L, 1);
    if (n < 0) n = 0;
    if (n >= 1000000 || !lua_checkstack(L, (int)n + 2)) return luaL_error(L, "too many results to unpack");
    for (lua_Integer k = 1; k <= n; k++) lua_geti(L, item, k);
    return (int)n;
}

/* `loop:map(f, items, results)`, `loop:star(...)`, `loop:apply(...)`: from
 * item `next` on, results[j] = f(items[j]), f(unpack(items[j])), or
 * table.pack(f(unpack(items[j]))). An error from f leaves `next` at the item
 * that raised. mode: 0 map, 1 star, 2 apply. */
static inline int forklift_taskloop_run(lua_State *L, int mode) {
    forklift_TaskLoop *loop = (forklift_TaskLoop *)luaL_checkudata(L, 1, FORKLIFT_TASKLOOP_METATABLE);
    lua_settop(L, 4);
    for (int64_t j = loop->next; j <= loop->count; j++) {
        loop->next = j;
        forklift_taskloop_mark(loop, j);
        int top = lua_gettop(L);
        lua_pushvalue(L, 2);
        lua_rawgeti(L, 3, j);
        if (mode == 0) {
            lua_call(L, 1, 1);
        } else {
            int item = lua_gettop(L);
            int n = forklift_taskloop_unpack(L, item);
            lua_remove(L, item);
            lua_call(L, n, mode == 1 ? 1 : LUA_MULTRET);
            if (mode == 2) { /* every result, as table.pack */
                int k = lua_gettop(L) - top;
                luaL_checkstack(L, 2, "too many results");
                lua_createtable(L, k, 1);
                lua_insert(L, top + 1);
                for (int i = k; i >= 1; i--) lua_rawseti(L, top + 1, i);
                lua_pushinteger(L, k);
                lua_setfield(L, top + 1, "n");
            }
        }
        lua_rawseti(L, 4, j);
        lua_settop(L, top);
    }
    loop->next = loop->count + 1;
    return 0;
}

static inline int forklift_taskloop_map(lua_State *L) { return forklift_taskloop_run(L, 0); }
static inline int forklift_taskloop_star(lua_State *L) { return forklift_taskloop_run(L, 1); }
static inline int forklift_taskloop_apply(lua_State *L) { return forklift_taskloop_run(L, 2); }

/* `loop:skip()` → j: the item that raised is left without a result; runs
 * resume after it. */
static inline int forklift_taskloop_skip(lua_State *L) {
    forklift_TaskLoop *loop = (forklift_TaskLoop *)luaL_checkudata(L, 1, FORKLIFT_TASKLOOP_METATABLE);
    int64_t j = loop->next;
    if (j > loop->count) return 0;
    loop->next = j + 1;
    lua_pushinteger(L, j);
    return 1;
}

#endif
