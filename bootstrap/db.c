/*
 * bootstrap/db.c -- database threads of lodestar-bootstrap (see db.h)
 *
 * Mutex-protected FIFOs feed the threads: plain jobs (resolutions: a
 * device waits for each) and batch jobs, one FIFO ("lane") per batch
 * function (session records: nobody waits; issued credentials: the device
 * waits, CREDWATCH).  A free thread takes a whole lane (up to BATCH_MAX)
 * that no other thread is writing, else the next plain job; so during a
 * bootstrap storm one thread writes a round of records or credentials in
 * one transaction while the others keep resolving, and jobs queued
 * meanwhile make the next round --
 * the store worker's rhythm (store/registrations.c): a few commits per
 * storm instead of one per session.  Finished jobs go to a third FIFO that
 * one posted drain on the loop thread empties, so a burst of completions
 * costs one eventfd wake-up, not one per job.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "bootstrap/db.h"

#include <pthread.h>
#include <stdlib.h>

#include "runtime/log.h"
#include "runtime/loop.h"
#include "store/store.h"

#define QUEUE_MAX 20000   /* jobs waiting before submit answers LS_ETRANSIENT */
#define BATCH_QUEUE_MAX 100000
#define THREADS_MAX 8
#define BATCH_MAX 2000    /* records in one transaction */
#define LANES_MAX 4       /* batch functions (records, issued credentials) */

struct job {
    bootstrap_db_work_fn *work;         /* plain job */
    bootstrap_db_batch_fn *batch_work;  /* batch job */
    bootstrap_db_done_fn *done;
    void *arg;
    struct job *next;
};

struct fifo {
    struct job *head, *tail;
    size_t n;
};

/* The batch jobs of one batch function, written a round at a time. */
struct lane {
    bootstrap_db_batch_fn *fn;
    struct fifo q;               /* submitted, not taken */
    bool busy;                   /* a thread is writing a round */
};

struct bootstrap_db {
    struct runtime_loop *loop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct fifo todo;            /* plain jobs submitted, not taken */
    struct lane lanes[LANES_MAX];
    size_t n_lanes;
    unsigned n_writing;          /* lanes being written */
    struct fifo done;            /* worked, done not yet called */
    bool drain_posted;           /* a drain post is on its way */
    bool stopping;
    unsigned n_threads;
    pthread_t threads[THREADS_MAX];
    struct store *stores[THREADS_MAX];
};

static void fifo_push(struct fifo *f, struct job *j)
{
    j->next = NULL;
    if (f->tail)
        f->tail->next = j;
    else
        f->head = j;
    f->tail = j;
    f->n++;
}

static struct job *fifo_pop(struct fifo *f)
{
    struct job *j = f->head;
    if (j) {
        f->head = j->next;
        if (!f->head)
            f->tail = NULL;
        f->n--;
    }
    return j;
}

static void drain(struct runtime_loop *loop, void *arg)
{
    struct bootstrap_db *db = arg;
    pthread_mutex_lock(&db->mu);
    struct fifo f = db->done;
    db->done = (struct fifo){ 0 };
    db->drain_posted = false;
    pthread_mutex_unlock(&db->mu);
    for (struct job *j; (j = fifo_pop(&f));) {
        j->done(j->arg, false);
        free(j);
    }
}

static void finished(struct bootstrap_db *db, struct job *j)
{
    bool post;
    pthread_mutex_lock(&db->mu);
    fifo_push(&db->done, j);
    post = !db->drain_posted;
    db->drain_posted = true;
    pthread_mutex_unlock(&db->mu);
    if (post) {
        struct ls_error err = { 0 };
        if (runtime_loop_post(db->loop, drain, db, &err) != LS_OK) {
            ls_log_error("post_failed", "what=bootstrap_db error=\"%s\"", err.msg);
            pthread_mutex_lock(&db->mu);
            db->drain_posted = false;
            pthread_mutex_unlock(&db->mu);
        }
    }
}

/* Under db->mu: a lane with a round to write and nobody writing it; none
 * while all threads but one write rounds (a resolution must find one). */
static struct lane *lane_ready(struct bootstrap_db *db)
{
    if (db->n_threads > 1 && db->n_writing >= db->n_threads - 1)
        return NULL;
    for (size_t i = 0; i < db->n_lanes; i++)
        if (!db->lanes[i].busy && db->lanes[i].q.head)
            return &db->lanes[i];
    return NULL;
}

/* Under db->mu: the batch jobs to write now (n of them into jobs, *lane
 * marked busy), or 0. */
static size_t take_batch(struct bootstrap_db *db, struct job **jobs, struct lane **lane)
{
    size_t n = 0;
    struct lane *l = lane_ready(db);
    if (!l)
        return 0;
    while (n < BATCH_MAX && l->q.head)
        jobs[n++] = fifo_pop(&l->q);
    l->busy = true;
    db->n_writing++;
    *lane = l;
    return n;
}

/* Outside db->mu: one batch function call for the run. */
static void run_batch(struct store *s, struct job **jobs, size_t n)
{
    void *args[BATCH_MAX];
    for (size_t i = 0; i < n; i++)
        args[i] = jobs[i]->arg;
    jobs[0]->batch_work(s, args, n);
}

static void *thread_main(void *arg)
{
    struct bootstrap_db *db = arg;
    struct store *s = NULL;
    static _Thread_local struct job *batch[BATCH_MAX];
    pthread_mutex_lock(&db->mu);
    for (unsigned i = 0; i < db->n_threads; i++)
        if (pthread_equal(db->threads[i], pthread_self()))
            s = db->stores[i];
    for (;;) {
        while (!db->todo.head && !lane_ready(db) && !db->stopping)
            pthread_cond_wait(&db->cv, &db->mu);
        /* Stopping: records still queued are written (nobody waits, but a
         * session that happened must not vanish); plain jobs were taken
         * away by bootstrap_db_stop. */
        if (db->stopping && !lane_ready(db))
            break;
        struct lane *lane = NULL;
        size_t n = take_batch(db, batch, &lane);
        if (n) {
            pthread_mutex_unlock(&db->mu);
            run_batch(s, batch, n);
            for (size_t i = 0; i < n; i++)
                finished(db, batch[i]);
            pthread_mutex_lock(&db->mu);
            lane->busy = false;
            db->n_writing--;
            pthread_cond_broadcast(&db->cv);   /* records queued meanwhile */
            continue;
        }
        struct job *j = fifo_pop(&db->todo);
        pthread_mutex_unlock(&db->mu);
        j->work(s, j->arg);
        finished(db, j);
        pthread_mutex_lock(&db->mu);
    }
    pthread_mutex_unlock(&db->mu);
    return NULL;
}

struct bootstrap_db *bootstrap_db_start(const char *conninfo, struct runtime_loop *loop,
                                        unsigned threads, struct ls_error *err)
{
    struct bootstrap_db *db = calloc(1, sizeof *db);
    if (!db) {
        ls_error_set(err, LS_ENOMEM, "bootstrap db: out of memory");
        return NULL;
    }
    db->loop = loop;
    pthread_mutex_init(&db->mu, NULL);
    pthread_cond_init(&db->cv, NULL);
    threads = threads < 1 ? 1 : threads > THREADS_MAX ? THREADS_MAX : threads;
    for (unsigned i = 0; i < threads; i++) {
        db->stores[i] = store_open(conninfo, err);
        if (!db->stores[i])
            goto fail;
    }
    pthread_mutex_lock(&db->mu);
    for (unsigned i = 0; i < threads; i++) {
        if (pthread_create(&db->threads[i], NULL, thread_main, db) != 0) {
            pthread_mutex_unlock(&db->mu);
            ls_error_set(err, LS_EIO, "bootstrap db: cannot start a thread");
            goto fail;
        }
        db->n_threads = i + 1;
    }
    pthread_mutex_unlock(&db->mu);
    return db;
fail:
    bootstrap_db_stop(db);
    return NULL;
}

void bootstrap_db_stop(struct bootstrap_db *db)
{
    if (!db)
        return;
    pthread_mutex_lock(&db->mu);
    db->stopping = true;
    /* Plain jobs not taken yet are cancelled rather than run: the loop is
     * gone.  Batch jobs (records) are written by the threads before they end. */
    struct fifo left = db->todo;
    db->todo = (struct fifo){ 0 };
    pthread_cond_broadcast(&db->cv);
    pthread_mutex_unlock(&db->mu);
    for (unsigned i = 0; i < db->n_threads; i++)
        pthread_join(db->threads[i], NULL);
    for (struct job *j; (j = fifo_pop(&db->done));) {
        j->done(j->arg, true);
        free(j);
    }
    for (struct job *j; (j = fifo_pop(&left));) {
        j->done(j->arg, true);
        free(j);
    }
    for (size_t i = 0; i < db->n_lanes; i++) {
        for (struct job *j; (j = fifo_pop(&db->lanes[i].q));) {
            j->done(j->arg, true);
            free(j);
        }
    }
    for (unsigned i = 0; i < THREADS_MAX; i++)
        store_close(db->stores[i]);
    pthread_cond_destroy(&db->cv);
    pthread_mutex_destroy(&db->mu);
    free(db);
}

/* Under db->mu: the lane of fn (made on first use), or NULL when all are
 * taken by other functions. */
static struct lane *lane_of(struct bootstrap_db *db, bootstrap_db_batch_fn *fn)
{
    for (size_t i = 0; i < db->n_lanes; i++)
        if (db->lanes[i].fn == fn)
            return &db->lanes[i];
    if (db->n_lanes == LANES_MAX)
        return NULL;
    db->lanes[db->n_lanes].fn = fn;
    return &db->lanes[db->n_lanes++];
}

static enum ls_rc submit(struct bootstrap_db *db, struct job *j, struct ls_error *err)
{
    bool batch = j->batch_work != NULL;
    size_t max = batch ? BATCH_QUEUE_MAX : QUEUE_MAX;
    pthread_mutex_lock(&db->mu);
    struct lane *lane = batch ? lane_of(db, j->batch_work) : NULL;
    struct fifo *f = batch ? (lane ? &lane->q : NULL) : &db->todo;
    if (!f) {
        pthread_mutex_unlock(&db->mu);
        free(j);
        return ls_error_set(err, LS_EINVAL, "bootstrap db: too many batch functions");
    }
    if (f->n >= max) {
        pthread_mutex_unlock(&db->mu);
        free(j);
        return ls_error_set(err, LS_ETRANSIENT, "bootstrap db: %zu jobs waiting", max);
    }
    fifo_push(f, j);
    if (batch)
        pthread_cond_broadcast(&db->cv);   /* the thread free to write it may not be next */
    else
        pthread_cond_signal(&db->cv);
    pthread_mutex_unlock(&db->mu);
    return LS_OK;
}

enum ls_rc bootstrap_db_submit(struct bootstrap_db *db, bootstrap_db_work_fn *work,
                               bootstrap_db_done_fn *done, void *arg, struct ls_error *err)
{
    struct job *j = malloc(sizeof *j);
    if (!j)
        return ls_error_set(err, LS_ENOMEM, "bootstrap db: out of memory");
    *j = (struct job){ .work = work, .done = done, .arg = arg };
    return submit(db, j, err);
}

enum ls_rc bootstrap_db_submit_batch(struct bootstrap_db *db, bootstrap_db_batch_fn *work,
                                     bootstrap_db_done_fn *done, void *arg,
                                     struct ls_error *err)
{
    struct job *j = malloc(sizeof *j);
    if (!j)
        return ls_error_set(err, LS_ENOMEM, "bootstrap db: out of memory");
    *j = (struct job){ .batch_work = work, .done = done, .arg = arg };
    return submit(db, j, err);
}
