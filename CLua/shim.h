/*
 * CLua: Lua 5.4 (Debian's liblua5.4-dev) for Swift.
 *
 * Only what Swift cannot do itself lives here:
 *   - the API macros, as static inline functions (Swift cannot import macros);
 *   - the error trampoline: Lua errors longjmp, and a longjmp must never cross
 *     Swift frames, so Swift functions return FORKLIFT_RAISE and C raises;
 *   - the SIGINT hook of lua.c, which must be async-signal-safe.
 */
#ifndef FORKLIFT_CLUA_SHIM_H
#define FORKLIFT_CLUA_SHIM_H

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include <signal.h>
#include <stdio.h>

/* Returned by a Swift function registered through forklift_pushprotected
 * when it left an error value on top of the stack for C to raise. */
#define FORKLIFT_RAISE (-1)
static const int forklift_raise = FORKLIFT_RAISE;

static const int forklift_registryindex = LUA_REGISTRYINDEX;
static const int forklift_multret = LUA_MULTRET;
static const int forklift_ridx_globals = LUA_RIDX_GLOBALS;
static const int forklift_ridx_mainthread = LUA_RIDX_MAINTHREAD;

static inline int forklift_upvalueindex(int i) { return lua_upvalueindex(i); }
static inline void forklift_pop(lua_State *L, int n) { lua_pop(L, n); }
static inline void forklift_newtable(lua_State *L) { lua_newtable(L); }
static inline const char *forklift_tolstring(lua_State *L, int i, size_t *len) { return lua_tolstring(L, i, len); }
static inline int forklift_pcall(lua_State *L, int nargs, int nresults, int msgh) { return lua_pcall(L, nargs, nresults, msgh); }
static inline void forklift_call(lua_State *L, int nargs, int nresults) { lua_call(L, nargs, nresults); }
static inline void forklift_insert(lua_State *L, int idx) { lua_insert(L, idx); }
static inline void forklift_remove(lua_State *L, int idx) { lua_remove(L, idx); }
static inline void forklift_replace(lua_State *L, int idx) { lua_replace(L, idx); }
static inline lua_Number forklift_tonumberx(lua_State *L, int i, int *isnum) { return lua_tonumberx(L, i, isnum); }
static inline lua_Integer forklift_tointegerx(lua_State *L, int i, int *isnum) { return lua_tointegerx(L, i, isnum); }
static inline int forklift_isinteger(lua_State *L, int i) { return lua_isinteger(L, i); }
static inline void *forklift_newuserdata(lua_State *L, size_t size) { return lua_newuserdatauv(L, size, 1); }
static inline int forklift_loadbuffer(lua_State *L, const char *buf, size_t size, const char *name, const char *mode) {
    return luaL_loadbufferx(L, buf, size, name, mode);
}
static inline void forklift_pushglobaltable(lua_State *L) { lua_pushglobaltable(L); }
static inline int forklift_getuservalue(lua_State *L, int idx) { return lua_getiuservalue(L, idx, 1); }
static inline int forklift_setuservalue(lua_State *L, int idx) { return lua_setiuservalue(L, idx, 1); }

static inline const char *forklift_copyright(void) { return LUA_COPYRIGHT; }
static inline void forklift_gc_generational(lua_State *L) { lua_gc(L, LUA_GCGEN, 0, 0); }

/* The C standard streams (Swift 6 treats the stdio globals as shared mutable state). */
static inline FILE *forklift_stdin(void) { return stdin; }
static inline FILE *forklift_stdout(void) { return stdout; }
static inline FILE *forklift_stderr(void) { return stderr; }

/* The per-state slot where the owning Swift object is recorded. */
static inline void **forklift_extraspace(lua_State *L) { return (void **)lua_getextraspace(L); }

/* The error trampoline. Upvalue 1 holds the Swift function as a light
 * userdata; its own upvalues start at 2. */
typedef int (*forklift_Function)(lua_State *L);

static inline int forklift_trampoline(lua_State *L) {
    forklift_Function f = (forklift_Function)lua_touserdata(L, lua_upvalueindex(1));
    int n = f(L);
    if (n < 0) return lua_error(L);
    return n;
}

/* Pushes `f` as a Lua function, with `nup` upvalues taken from the stack
 * (they become upvalues 2...nup+1). */
static inline void forklift_pushprotected(lua_State *L, forklift_Function f, int nup) {
    lua_pushlightuserdata(L, (void *)f);
    if (nup > 0) lua_insert(L, -(nup + 1));
    lua_pushcclosure(L, forklift_trampoline, nup + 1);
}

/* Index of upvalue i (1-based) of a protected function, past the trampoline's own. */
static inline int forklift_protected_upvalueindex(int i) { return lua_upvalueindex(i + 1); }

/* lua.c's msghandler, run at the point of the error with the stack intact
 * (a __tostring metamethod sees the same levels as under lua.c, and an error
 * inside it unwinds as there). Unlike lua.c's, it returns the error value
 * unchanged, so a table raised stays a table for Swift, and leaves what lua.c
 * would print in the registry: the message under FORKLIFT_ERRORMESSAGE and,
 * unless the message came from __tostring, the traceback under
 * FORKLIFT_TRACEBACK. */
#define FORKLIFT_ERRORMESSAGE "forklift.errormessage"
#define FORKLIFT_TRACEBACK "forklift.traceback"

static inline int forklift_msghandler(lua_State *L) {
    const char *msg;
    lua_settop(L, 1);
    lua_pushvalue(L, 1); /* lua_tostring would turn a number into a string in place */
    msg = lua_tostring(L, 2);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) {
            lua_setfield(L, LUA_REGISTRYINDEX, FORKLIFT_ERRORMESSAGE);
            lua_pushnil(L);
            lua_setfield(L, LUA_REGISTRYINDEX, FORKLIFT_TRACEBACK);
            lua_settop(L, 1);
            return 1;
        }
        lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    lua_setfield(L, LUA_REGISTRYINDEX, FORKLIFT_ERRORMESSAGE);
    luaL_traceback(L, L, NULL, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, FORKLIFT_TRACEBACK);
    lua_settop(L, 1);
    return 1;
}

static inline void forklift_pushmsghandler(lua_State *L) { lua_pushcfunction(L, forklift_msghandler); }
static const char *const forklift_errormessage_key = FORKLIFT_ERRORMESSAGE;
static const char *const forklift_traceback_key = FORKLIFT_TRACEBACK;

/* lua.c's SIGINT handling: the signal handler only sets a hook, and the hook
 * raises "interrupted!" at the next safe point of the running chunk. */
static lua_State *volatile forklift_interrupt_state = 0;

static inline void forklift_lstop(lua_State *L, lua_Debug *ar) {
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted!");
}

/* lua.c's setsignal: sigaction without SA_RESTART, so a blocking read in
 * the chunk returns EINTR instead of waiting for input before the hook runs. */
static inline void forklift_setsignal(int sig, void (*handler)(int)) {
    struct sigaction sa;
    sa.sa_handler = handler;
    sa.sa_flags = 0;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

#define FORKLIFT_INTERRUPT_MASK (LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT)

static inline void forklift_laction(int sig) {
    int flag = FORKLIFT_INTERRUPT_MASK;
    forklift_setsignal(sig, SIG_DFL); /* a second Ctrl-C kills the process, as in lua.c */
    if (forklift_interrupt_state) lua_sethook(forklift_interrupt_state, forklift_lstop, flag, 1);
}

/* True when Ctrl-C's hook is pending on L (waits in Swift return early so
 * that it can run). Recognised by its mask and count, not merely "a hook is
 * set": a user's own debug.sethook must not end a wait. */
static inline int forklift_interrupt_pending(lua_State *L) {
    return lua_gethook(L) != NULL && lua_gethookmask(L) == FORKLIFT_INTERRUPT_MASK && lua_gethookcount(L) == 1;
}

/* Arms (state != NULL) or disarms the SIGINT hook around a chunk. The state
 * lives in a static of this header: arm and disarm from one Swift file. */
static inline void forklift_set_interrupt_target(lua_State *L) {
    forklift_interrupt_state = L;
    forklift_setsignal(SIGINT, L ? forklift_laction : SIG_DFL);
}

#endif
