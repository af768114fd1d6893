/*
 * server/dispatch.c -- device operations from the HTTP threads to the loop
 * (dispatch.h)
 *
 * A posted call is linked in a list under a mutex until the loop runs it,
 * which is what lets server_dispatch_free answer the ones a stopped loop
 * will never run (runtime_loop_free drops posts without running them).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "server/dispatch.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/loop.h"
#include "server/commands.h"
#include "server/devops.h"
#include "server/registry.h"

struct item {
    struct server_dispatch *s;
    struct item *prev, *next;      /* posted, not yet run */
    char *endpoint;
    char *command_json;
    int64_t timeout_ms;
    int64_t actor_token_id;
    char *actor;
    web_device_done_fn *done;
    void *ctx;
};

struct server_dispatch {
    struct runtime_loop *loop;
    struct server_registry *registry;
    struct server_devops *devops;
    struct server_commands *commands;
    pthread_mutex_t lock;          /* guards posted and closed */
    struct item *posted;
    bool closed;
};

struct server_dispatch *server_dispatch_new(struct runtime_loop *loop, struct server_registry *r,
                                            struct server_devops *d, struct server_commands *c,
                                            struct ls_error *err)
{
    struct server_dispatch *s = calloc(1, sizeof *s);
    if (!s) {
        ls_error_set(err, LS_ENOMEM, "dispatch: out of memory");
        return NULL;
    }
    s->loop = loop;
    s->registry = r;
    s->devops = d;
    s->commands = c;
    pthread_mutex_init(&s->lock, NULL);
    return s;
}

static void item_free(struct item *it)
{
    if (!it)
        return;
    free(it->endpoint);
    free(it->command_json);
    free(it->actor);
    free(it);
}

static void fail(web_device_done_fn *done, void *ctx, unsigned status, const char *code,
                 const char *msg)
{
    char *j = server_devops_error_json(code, NULL, "%s", msg);
    done(ctx, status, j ? j : "{\"error\":{\"code\":\"internal\",\"message\":\"no memory\"}}");
    free(j);
}

/* Unlinks it from the posted list; false when free already took it. */
static bool take(struct server_dispatch *s, struct item *it)
{
    pthread_mutex_lock(&s->lock);
    bool mine = !s->closed;
    if (mine) {
        if (it->prev)
            it->prev->next = it->next;
        else
            s->posted = it->next;
        if (it->next)
            it->next->prev = it->prev;
    }
    pthread_mutex_unlock(&s->lock);
    return mine;
}

/* Loop thread. */
static void run(struct runtime_loop *loop, void *arg)
{
    (void)loop;
    struct item *it = arg;
    struct server_dispatch *s = it->s;
    if (!take(s, it))
        return;
    struct server_reg *reg = server_registry_by_endpoint(s->registry, it->endpoint);
    if (reg && (!s->commands || server_commands_can_send(s->commands, reg))) {
        server_devops_execute(s->devops, reg, it->command_json, it->timeout_ms, it->done,
                              it->ctx);
    } else if (s->commands) {
        struct web_device_call call = {
            .endpoint = it->endpoint, .command_json = it->command_json,
            .timeout_ms = it->timeout_ms, .actor_token_id = it->actor_token_id,
            .actor = it->actor,
        };
        server_commands_submit(s->commands, reg, &call, it->done, it->ctx);
    } else {
        fail(it->done, it->ctx, 404, "not_registered", "the device is not registered");
    }
    item_free(it);
}

static struct item *item_new(struct server_dispatch *s, const struct web_device_call *call,
                             web_device_done_fn *done, void *ctx)
{
    struct item *it = calloc(1, sizeof *it);
    if (!it)
        return NULL;
    it->s = s;
    it->endpoint = strdup(call->endpoint ? call->endpoint : "");
    it->command_json = strdup(call->command_json ? call->command_json : "");
    it->actor = strdup(call->actor ? call->actor : "");
    it->timeout_ms = call->timeout_ms;
    it->actor_token_id = call->actor_token_id;
    it->done = done;
    it->ctx = ctx;
    if (!it->endpoint || !it->command_json || !it->actor) {
        item_free(it);
        return NULL;
    }
    return it;
}

void server_dispatch_submit(void *arg, const struct web_device_call *call,
                            web_device_done_fn *done, void *ctx)
{
    struct server_dispatch *s = arg;
    struct item *it = item_new(s, call, done, ctx);
    if (!it) {
        fail(done, ctx, 500, "internal", "out of memory");
        return;
    }
    pthread_mutex_lock(&s->lock);
    bool open = !s->closed;
    if (open) {
        it->next = s->posted;
        if (s->posted)
            s->posted->prev = it;
        s->posted = it;
    }
    pthread_mutex_unlock(&s->lock);
    if (!open) {
        item_free(it);
        fail(done, ctx, 503, "unavailable", "the server is shutting down");
        return;
    }
    if (runtime_loop_post(s->loop, run, it, NULL) != LS_OK && take(s, it)) {
        item_free(it);
        fail(done, ctx, 503, "unavailable", "the server is overloaded");
    }
}

void server_dispatch_free(struct server_dispatch *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->closed = true;
    struct item *list = s->posted;
    s->posted = NULL;
    pthread_mutex_unlock(&s->lock);
    while (list) {
        struct item *it = list;
        list = it->next;
        fail(it->done, it->ctx, 503, "unavailable", "the server is shutting down");
        item_free(it);
    }
    pthread_mutex_destroy(&s->lock);
    free(s);
}
