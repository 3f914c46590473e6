/*
 * A stand-in for Fluent Bit's Go proxy (src/proxy/go/go.c): it loads an
 * output plugin built with -buildmode=c-shared and drives it through
 * register, init (properties served through the proxy's API struct),
 * FlushCtx and exit, printing each return code for the Go test to check.
 *
 * usage: host plugin.so instances flushes
 *   instances: "config|log_level|metrics_listen|state_dir;..." one per
 *              instance; trailing fields may be left out
 *   flushes:   "instance:tag:file:max_retries;..." chunks to flush in order;
 *              on FLB_RETRY the chunk is flushed again, as Fluent Bit's
 *              scheduler would, up to max_retries times.
 * A flush entry starting with '&' runs concurrently with the previous one.
 * Two more entries act on the whole host once the running flush is done:
 *   "restart:N" exits instance N and initialises it again with the same
 *               properties, as Fluent Bit's hot reload does;
 *   "kill"      kills the host with SIGKILL, as a crash or an OOM kill
 *               would: no exit callback runs.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flb_plugin.h"
#include "flb_output.h"

/* Fluent Bit's instance is opaque to the plugin; here it holds properties. */
struct flb_output_instance {
    char *config;
    char *log_level;
    char *metrics_listen;
    char *state_dir;
};

static char *get_property(char *key, void *ins)
{
    struct flb_output_instance *o = ins;
    if (strcmp(key, "config") == 0) return o->config;
    if (strcmp(key, "log_level") == 0) return o->log_level;
    if (strcmp(key, "metrics_listen") == 0 && o->metrics_listen[0]) return o->metrics_listen;
    if (strcmp(key, "state_dir") == 0 && o->state_dir[0]) return o->state_dir;
    return NULL; /* as flb_output_get_property does for unset keys */
}

typedef int (*register_fn)(struct flb_plugin_proxy_def *);
typedef int (*init_fn)(void *);
typedef int (*flush_ctx_fn)(void *, void *, int, char *);
typedef int (*exit_ctx_fn)(void *);
typedef int (*exit_fn)(void);

static flush_ctx_fn flush_ctx;

#define MAX_INST 8
static struct flbgo_output_plugin plugins[MAX_INST];
static struct flb_plugin_proxy_context contexts[MAX_INST];
static struct flb_output_instance props[MAX_INST];
static struct flb_api api = { get_property, NULL };

struct job {
    int inst;
    char *tag;
    char *file;
    int retries;
    int seq;
};

static void *read_file(const char *path, long *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(3); }
    fseek(f, 0, SEEK_END);
    *len = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc(*len ? *len : 1);
    if (fread(buf, 1, *len, f) != (size_t)*len) { perror(path); exit(3); }
    fclose(f);
    return buf;
}

static void *run_job(void *arg)
{
    struct job *j = arg;
    long len;
    void *buf = read_file(j->file, &len);
    for (int attempt = 0;; attempt++) {
        int ret = flush_ctx(contexts[j->inst].remote_context, buf, (int)len, j->tag);
        printf("flush %d inst=%d attempt=%d ret=%d\n", j->seq, j->inst, attempt, ret);
        fflush(stdout);
        if (ret != FLB_RETRY || attempt >= j->retries) break;
    }
    free(buf);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4) { fprintf(stderr, "usage: host plugin.so instances flushes\n"); return 2; }
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!h) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 3; }
    register_fn reg = (register_fn)dlsym(h, "FLBPluginRegister");
    init_fn init = (init_fn)dlsym(h, "FLBPluginInit");
    flush_ctx = (flush_ctx_fn)dlsym(h, "FLBPluginFlushCtx");
    exit_ctx_fn exit_ctx = (exit_ctx_fn)dlsym(h, "FLBPluginExitCtx");
    exit_fn exit_all = (exit_fn)dlsym(h, "FLBPluginExit");
    if (!reg || !init || !flush_ctx || !exit_ctx || !exit_all) { fprintf(stderr, "missing symbol\n"); return 3; }

    struct flb_plugin_proxy_def def;
    memset(&def, 0, sizeof(def));
    int ret = reg(&def);
    printf("register ret=%d type=%d proxy=%d name=%s\n", ret, def.type, def.proxy, def.name ? def.name : "(null)");

    int n = 0;
    for (char *save = NULL, *spec = strtok_r(argv[2], ";", &save); spec && n < MAX_INST; spec = strtok_r(NULL, ";", &save), n++) {
        char *f[4] = { "", "", "", "" };
        int k = 0;
        for (char *p = spec; k < 4; k++) {
            f[k] = p;
            char *bar = strchr(p, '|');
            if (!bar) { k++; break; }
            *bar = 0;
            p = bar + 1;
        }
        props[n] = (struct flb_output_instance){ f[0], f[1], f[2], f[3] };
        plugins[n].api = &api;
        plugins[n].o_ins = &props[n];
        plugins[n].context = &contexts[n];
        ret = init(&plugins[n]);
        printf("init %d ret=%d\n", n, ret);
        fflush(stdout);
    }

    struct job jobs[64];
    pthread_t threads[64];
    int nj = 0, last = -1; /* last: the most recent job still to be joined */
    for (char *save = NULL, *spec = strtok_r(argv[3], ";", &save); spec && nj < 64; spec = strtok_r(NULL, ";", &save)) {
        if (strcmp(spec, "kill") == 0 || strncmp(spec, "restart:", 8) == 0) {
            if (last >= 0) pthread_join(threads[last], NULL);
            last = -1;
            if (spec[0] == 'k') {
                printf("kill\n");
                fflush(stdout);
                raise(SIGKILL);
            }
            int i = atoi(spec + 8);
            printf("exit_ctx %d ret=%d\n", i, exit_ctx(contexts[i].remote_context));
            contexts[i].remote_context = NULL;
            printf("init %d ret=%d\n", i, init(&plugins[i]));
            fflush(stdout);
            continue;
        }
        int concurrent = spec[0] == '&';
        if (concurrent) spec++;
        struct job *j = &jobs[nj];
        j->seq = nj;
        j->inst = atoi(strtok(spec, ":"));
        j->tag = strtok(NULL, ":");
        j->file = strtok(NULL, ":");
        j->retries = atoi(strtok(NULL, ":"));
        if (!concurrent && last >= 0) pthread_join(threads[last], NULL);
        pthread_create(&threads[nj], NULL, run_job, j);
        if (concurrent && last >= 0) pthread_join(threads[last], NULL);
        last = nj++;
    }
    if (last >= 0) pthread_join(threads[last], NULL);

    for (int i = 0; i < n; i++) {
        if (contexts[i].remote_context) {
            printf("exit_ctx %d ret=%d\n", i, exit_ctx(contexts[i].remote_context));
        }
    }
    printf("exit ret=%d\n", exit_all());
    return 0;
}
