// tasks: built-in task generators, fixed lists and the task-list import; see tasks.h.
#include "experiment/tasks.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/strmap.h"
#include "base/util.h"

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

// ----------------------------------------------------------------------------- helpers

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

// The generator of example i of task `name`: a function of (seed, name, i) only.
static void example_rng(Rng *r, uint64_t seed, const char *name, int i) {
    uint64_t h = 1469598103934665603ULL;   // FNV-1a of the name
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    rng_seed(r, mix64(mix64(seed ^ mix64(h)) + (uint64_t)i));
}

static int pick(Rng *r, int n) { return (int)rng_below(r, (uint64_t)n); }

// k distinct indices in [0, n) into idx (k <= n <= 64), in random order.
static void pick_distinct(Rng *r, int n, int k, int *idx) {
    int all[64];
    for (int i = 0; i < n; i++) all[i] = i;
    for (int i = 0; i < k; i++) {
        int j = i + pick(r, n - i);
        int t = all[i];
        all[i] = all[j];
        all[j] = t;
        idx[i] = all[i];
    }
}

// ----------------------------------------------------------------------------- addition

static long long pow10ll(int d) {
    long long p = 1;
    while (d-- > 0) p *= 10;
    return p;
}

// An operand of exactly `digits` digits (0..9 for one digit).
static long long operand(Rng *r, int digits) {
    long long lo = digits == 1 ? 0 : pow10ll(digits - 1), hi = pow10ll(digits) - 1;
    return lo + (long long)rng_below(r, (uint64_t)(hi - lo + 1));
}

// "2 + 4 = 6\n2 + 5 = 7\n4 + 2 =" -> "6"
static void gen_addition(const TaskInfo *t, Rng *r, const TaskOptions *o, TaskExample *e) {
    (void)t;
    JsonBuf b = {0};
    for (int s = 0; s < o->shots; s++) {
        long long a = operand(r, o->digits), c = operand(r, o->digits);
        jb_printf(&b, "%lld + %lld = %lld\n", a, c, a + c);
    }
    long long a = operand(r, o->digits), c = operand(r, o->digits);
    jb_printf(&b, "%lld + %lld =", a, c);
    e->prompt = jb_take(&b);
    jb_printf(&b, "%lld", a + c);
    e->answer = jb_take(&b);
}

// ----------------------------------------------------------------------------- json

static const char *const json_keys[] = {
    "name",  "id",    "color", "size", "city",  "owner", "status", "type",  "tags", "count",
    "price", "title", "user",  "item", "level", "mode",  "label",  "score", "kind", "value",
};
static const char *const json_short_words[] = {
    "red",  "blue", "green", "cat",  "dog",  "box",  "sun",  "tree",
    "milk", "rock", "lamp",  "fish", "book", "door", "star", "ship",
};
// Words whose first half predicts the rest: the cut falls inside one of these.
static const char *const json_long_words[] = {
    "banana",   "orange", "purple", "yellow",  "elephant", "computer",  "keyboard", "window",
    "garden",   "summer", "winter", "monday",  "friday",   "chocolate", "coffee",   "bicycle",
    "umbrella", "guitar", "planet", "dragon",  "rabbit",   "turtle",    "penguin",  "giraffe",
    "tomato",   "potato", "pencil", "blanket", "diamond",  "island",    "london",   "paris",
};

static void json_key(JsonBuf *b, int first, const char *key) {
    if (!first) jb_puts(b, ", ");
    jb_cstr(b, key);
    jb_puts(b, ": ");
}

// A random small value: an integer, a boolean, a word or a list of words.
static void json_value(JsonBuf *b, Rng *r) {
    switch (pick(r, 4)) {
    case 0: jb_printf(b, "%d", pick(r, 100)); break;
    case 1: jb_puts(b, pick(r, 2) ? "true" : "false"); break;
    case 2: jb_cstr(b, json_short_words[pick(r, COUNT(json_short_words))]); break;
    default: {
        int n = 2 + pick(r, 2), idx[3];
        pick_distinct(r, COUNT(json_short_words), n, idx);
        jb_puts(b, "[");
        for (int i = 0; i < n; i++) {
            if (i) jb_puts(b, ", ");
            jb_cstr(b, json_short_words[idx[i]]);
        }
        jb_puts(b, "]");
    }
    }
}

// `n` members with random values under the keys idx[0..n).
static void json_members(JsonBuf *b, Rng *r, const int *idx, int n) {
    for (int i = 0; i < n; i++) {
        json_key(b, i == 0, json_keys[idx[i]]);
        json_value(b, r);
    }
}

// A long word as a string value; returns the offset of the cut inside it.
static size_t json_cut_word(JsonBuf *b, Rng *r) {
    const char *w = json_long_words[pick(r, COUNT(json_long_words))];
    size_t n = strlen(w), keep = (n + 1) / 2;
    jb_puts(b, "\"");
    size_t cut = b->len + (keep < 3 ? 3 : keep);
    jb_puts(b, w);
    jb_puts(b, "\"");
    return cut;
}

// A small document cut where the rest is short and follows from what came before:
// inside the last word (answer: the word's end and the closing brackets) or, for a
// counter, after the last key (answer: " N" and the closing brackets).
static void gen_json(const TaskInfo *t, Rng *r, const TaskOptions *o, TaskExample *e) {
    (void)t, (void)o;
    JsonBuf b = {0};
    int idx[6];
    size_t cut = 0;
    pick_distinct(r, COUNT(json_keys), 6, idx);
    switch (pick(r, 4)) {
    case 0: {   // {"k": v, ..., "k": "word"}
        int m = 1 + pick(r, 3);
        jb_puts(&b, "{");
        json_members(&b, r, idx, m);
        json_key(&b, 0, json_keys[idx[m]]);
        cut = json_cut_word(&b, r);
        jb_puts(&b, "}");
        break;
    }
    case 1: {   // {"k": v, "k": {"k": v, "k": "word"}}
        int m = 1 + pick(r, 2), m2 = pick(r, 2);
        jb_puts(&b, "{");
        json_members(&b, r, idx, m);
        json_key(&b, 0, json_keys[idx[m]]);
        jb_puts(&b, "{");
        json_members(&b, r, idx + m + 1, m2);
        json_key(&b, m2 == 0, json_keys[idx[m + 1 + m2]]);
        cut = json_cut_word(&b, r);
        jb_puts(&b, "}}");
        break;
    }
    case 2: {   // {"k": [{"k1": "w", "k2": "w"}, ..., {"k1": "w", "k2": "word"}]}
        int rows = 2 + pick(r, 2);
        jb_puts(&b, "{");
        json_key(&b, 1, json_keys[idx[0]]);
        jb_puts(&b, "[");
        cut = 0;
        for (int i = 0; i < rows; i++) {
            jb_puts(&b, i ? ", {" : "{");
            json_key(&b, 1, json_keys[idx[1]]);
            jb_cstr(&b, json_short_words[pick(r, COUNT(json_short_words))]);
            json_key(&b, 0, json_keys[idx[2]]);
            if (i == rows - 1) cut = json_cut_word(&b, r);
            else jb_cstr(&b, json_long_words[pick(r, COUNT(json_long_words))]);
            jb_puts(&b, "}");
        }
        jb_puts(&b, "]}");
        break;
    }
    default: {   // {"k": v, "k": {"a": s, "b": s+1, "c": s+2, "d": s+3}}
        int m = pick(r, 2), terms = 3 + pick(r, 3), start = pick(r, 10);
        jb_puts(&b, "{");
        json_members(&b, r, idx, m);
        if (m) json_key(&b, 0, json_keys[idx[m]]);
        if (m) jb_puts(&b, "{");
        for (int i = 0; i < terms; i++) {
            char key[2] = {(char)('a' + i), 0};
            json_key(&b, i == 0, key);
            cut = b.len - 1;   // before the space: it belongs to the number's token
            jb_printf(&b, "%d", start + i);
        }
        jb_puts(&b, m ? "}}" : "}");
        break;
    }
    }
    e->prompt = xstrndup(b.buf, cut);
    e->answer = xstrdup(b.buf + cut);
    jb_free(&b);
}

// ----------------------------------------------------------------------------- counting

// "1, 2, 3, 4," -> "5"; also by 2s, 5s and 10s.
static void gen_counting(const TaskInfo *t, Rng *r, const TaskOptions *o, TaskExample *e) {
    (void)t, (void)o;
    static const int steps[] = {1, 1, 2, 5, 10};
    int step = steps[pick(r, COUNT(steps))], start = step * (1 + pick(r, 20));
    int terms = 4 + pick(r, 3);
    JsonBuf b = {0};
    for (int i = 0; i < terms; i++) jb_printf(&b, i ? " %d," : "%d,", start + i * step);
    e->prompt = jb_take(&b);
    jb_printf(&b, "%d", start + terms * step);
    e->answer = jb_take(&b);
}

// ----------------------------------------------------------------------------- days

static const char *const weekdays[] = {
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday",
};
static const char *const months[] = {
    "January", "February", "March",     "April",   "May",      "June",
    "July",    "August",   "September", "October", "November", "December",
};

// "Monday, Tuesday, Wednesday," -> "Thursday"; the same with months (wrapping round).
static void gen_days(const TaskInfo *t, Rng *r, const TaskOptions *o, TaskExample *e) {
    (void)t, (void)o;
    int use_months = pick(r, 2);
    const char *const *seq = use_months ? months : weekdays;
    int n = use_months ? COUNT(months) : COUNT(weekdays);
    int start = pick(r, n), terms = 3 + pick(r, 2);
    JsonBuf b = {0};
    for (int i = 0; i < terms; i++) jb_printf(&b, i ? " %s," : "%s,", seq[(start + i) % n]);
    e->prompt = jb_take(&b);
    e->answer = xstrdup(seq[(start + terms) % n]);
}

// ----------------------------------------------------------------------------- opposites

static const char *const opposite_pairs[][2] = {
    {"hot", "cold"},    {"big", "small"},  {"fast", "slow"},   {"up", "down"},
    {"left", "right"},  {"day", "night"},  {"black", "white"}, {"happy", "sad"},
    {"young", "old"},   {"light", "dark"}, {"high", "low"},    {"rich", "poor"},
    {"hard", "soft"},   {"wet", "dry"},    {"long", "short"},  {"full", "empty"},
    {"early", "late"},  {"good", "bad"},   {"in", "out"},      {"yes", "no"},
    {"win", "lose"},    {"push", "pull"},  {"love", "hate"},   {"top", "bottom"},
    {"north", "south"}, {"east", "west"},  {"true", "false"},  {"open", "closed"},
};

// Few-shot "big -> small\nfast -> slow\nup ->" -> "down"; with 0 shots
// "hot is the opposite of" -> "cold".  Either word of a pair may come first.
static void gen_opposites(const TaskInfo *t, Rng *r, const TaskOptions *o, TaskExample *e) {
    (void)t;
    int n = COUNT(opposite_pairs), k = o->shots < n - 1 ? o->shots : n - 1, idx[64];
    pick_distinct(r, n, k + 1, idx);
    JsonBuf b = {0};
    for (int i = 0; i <= k; i++) {
        int flip = pick(r, 2);
        const char *a = opposite_pairs[idx[i]][flip], *z = opposite_pairs[idx[i]][!flip];
        if (i < k) {
            jb_printf(&b, "%s -> %s\n", a, z);
        } else {
            jb_printf(&b, k ? "%s ->" : "%s is the opposite of", a);
            e->answer = xstrdup(z);
        }
    }
    e->prompt = jb_take(&b);
}

// ----------------------------------------------------------------------------- alphabet

// "A B C D" -> "E" (upper or lower case, 3 to 5 letters shown).
static void gen_alphabet(const TaskInfo *t, Rng *r, const TaskOptions *o, TaskExample *e) {
    (void)t, (void)o;
    int terms = 3 + pick(r, 3), start = pick(r, 26 - terms);
    char base = pick(r, 2) ? 'A' : 'a';
    JsonBuf b = {0};
    for (int i = 0; i < terms; i++) jb_printf(&b, i ? " %c" : "%c", base + start + i);
    e->prompt = jb_take(&b);
    jb_printf(&b, "%c", base + start + terms);
    e->answer = jb_take(&b);
}

// ----------------------------------------------------------------------------- plural

static const char *const plural_pairs[][2] = {
    {"cat", "cats"},       {"dog", "dogs"},        {"box", "boxes"},    {"baby", "babies"},
    {"city", "cities"},    {"car", "cars"},        {"bus", "buses"},    {"tree", "trees"},
    {"child", "children"}, {"mouse", "mice"},      {"man", "men"},      {"woman", "women"},
    {"foot", "feet"},      {"tooth", "teeth"},     {"house", "houses"}, {"book", "books"},
    {"glass", "glasses"},  {"church", "churches"}, {"knife", "knives"}, {"leaf", "leaves"},
    {"story", "stories"},  {"bird", "birds"},      {"horse", "horses"}, {"apple", "apples"},
};

// "one dog, two dogs\none box, two boxes\none cat, two" -> "cats"
static void gen_plural(const TaskInfo *t, Rng *r, const TaskOptions *o, TaskExample *e) {
    (void)t;
    int n = COUNT(plural_pairs), k = o->shots < n - 1 ? o->shots : n - 1, idx[64];
    pick_distinct(r, n, k + 1, idx);
    JsonBuf b = {0};
    for (int i = 0; i < k; i++)
        jb_printf(&b, "one %s, two %s\n", plural_pairs[idx[i]][0], plural_pairs[idx[i]][1]);
    jb_printf(&b, "one %s, two", plural_pairs[idx[k]][0]);
    e->prompt = jb_take(&b);
    e->answer = xstrdup(plural_pairs[idx[k]][1]);
}

// ----------------------------------------------------------------------------- copy

static const char *const copy_words[] = {
    "apple",  "river",  "stone",  "cloud",  "window", "garden", "horse",  "paper",  "music",
    "table",  "forest", "bridge", "candle", "silver", "ocean",  "pencil", "mirror", "engine",
    "flower", "castle", "rabbit", "planet", "button", "doctor", "yellow", "summer",
};

// Induction: "river lamp stone cloud\nriver lamp stone" -> "cloud" (4 to 7 distinct words).
static void gen_copy(const TaskInfo *t, Rng *r, const TaskOptions *o, TaskExample *e) {
    (void)t, (void)o;
    int n = 4 + pick(r, 4), idx[8];
    pick_distinct(r, COUNT(copy_words), n, idx);
    JsonBuf b = {0};
    for (int i = 0; i < n; i++) jb_printf(&b, i ? " %s" : "%s", copy_words[idx[i]]);
    jb_puts(&b, "\n");
    for (int i = 0; i < n - 1; i++) jb_printf(&b, i ? " %s" : "%s", copy_words[idx[i]]);
    e->prompt = jb_take(&b);
    e->answer = xstrdup(copy_words[idx[n - 1]]);
}

// ----------------------------------------------------------------------------- facts

// Completions that GPT-2 small is expected to know (single words or numbers).
static const TaskItem fact_items[] = {
    {"The Eiffel Tower is located in the city of", "Paris", NULL, NULL, NULL},
    {"Madrid is the capital of", "Spain", NULL, NULL, NULL},
    {"Paris is the capital of", "France", NULL, NULL, NULL},
    {"Berlin is the capital of", "Germany", NULL, NULL, NULL},
    {"Rome is the capital of", "Italy", NULL, NULL, NULL},
    {"Tokyo is the capital of", "Japan", NULL, NULL, NULL},
    {"Moscow is the capital of", "Russia", NULL, NULL, NULL},
    {"Obama was elected in the year", "2008", NULL, NULL, NULL},
    {"World war 1 started in 1914 and ended in", "1918", NULL, NULL, NULL},
    {"World War II ended in the year", "1945", NULL, NULL, NULL},
    {"The Colosseum is located in the city of", "Rome", NULL, NULL, NULL},
    {"The Great Wall is located in", "China", NULL, NULL, NULL},
    {"The Statue of Liberty is located in New", "York", NULL, NULL, NULL},
    {"Barack Obama was born in", "Hawaii", NULL, NULL, NULL},
    {"The first man to walk on the moon was Neil", "Armstrong", NULL, NULL, NULL},
    {"Albert Einstein is famous for the theory of", "relativity", NULL, NULL, NULL},
    {"Water is made of hydrogen and", "oxygen", NULL, NULL, NULL},
    {"The sun rises in the", "east", NULL, NULL, NULL},
    {"Christmas is celebrated on December", "25", NULL, NULL, NULL},
    {"Steve Jobs was the co-founder of", "Apple", NULL, NULL, NULL},
    {"Mark Zuckerberg is the founder of", "Facebook", NULL, NULL, NULL},
    {"Michael Jordan played the sport of", "basketball", NULL, NULL, NULL},
    {"Romeo and Juliet was written by William", "Shakespeare", NULL, NULL, NULL},
    {"The largest planet in our solar system is", "Jupiter", NULL, NULL, NULL},
    {"There are seven days in a", "week", NULL, NULL, NULL},
    {"The Declaration of Independence was signed in", "1776", NULL, NULL, NULL},
    {"The President of the United States lives in the White", "House", NULL, NULL, NULL},
    {"Harry Potter was written by J.K.", "Rowling", NULL, NULL, NULL},
    {"Mount Everest is the tallest mountain in the", "world", NULL, NULL, NULL},
    {"Tiger Woods plays the sport of", "golf", NULL, NULL, NULL},
};

// Clean/corrupted pairs for activation patching: the corrupted prompt swaps the subject
// for another of the same GPT-2 token length (tests/tool/interp.sh checks the lengths),
// so that the same positions can be patched; wrong_answer is what it calls for.
static const TaskItem fact_pair_items[] = {
    {"The Eiffel Tower is located in the city of", "Paris", NULL,
     "The Colosseum is located in the city of", "Rome"},
    {"Madrid is the capital of", "Spain", NULL, "Tokyo is the capital of", "Japan"},
    {"Berlin is the capital of", "Germany", NULL, "Rome is the capital of", "Italy"},
    {"London is the capital of", "England", NULL, "Paris is the capital of", "France"},
    {"Cairo is the capital of", "Egypt", NULL, "Athens is the capital of", "Greece"},
    {"Canberra is the capital of", "Australia", NULL, "Ottawa is the capital of", "Canada"},
    {"Moscow is the capital of", "Russia", NULL, "Paris is the capital of", "France"},
    {"Steve Jobs was the co-founder of", "Apple", NULL, "Bill Gates was the co-founder of",
     "Microsoft"},
    {"Mark Zuckerberg is the founder of", "Facebook", NULL, "Jeff Bezos is the founder of",
     "Amazon"},
    {"Albert Einstein is famous for the theory of", "relativity", NULL,
     "Charles Darwin is famous for the theory of", "evolution"},
    {"The Great Wall is located in", "China", NULL, "The Great Pyramid is located in", "Egypt"},
    {"Obama was elected in the year", "2008", NULL, "Trump was elected in the year", "2016"},
    {"World War II ended in the year", "1945", NULL, "World War I ended in the year", "1918"},
    {"The sun rises in the", "east", NULL, "The sun sets in the", "west"},
    {"The Statue of Liberty is located in New", "York", NULL,
     "The Golden Gate Bridge is located in San", "Francisco"},
    {"Tiger Woods plays the sport of", "golf", NULL, "Roger Federer plays the sport of", "tennis"},
};

// ----------------------------------------------------------------------------- table

#define QUESTIONS(...)                                                                             \
    (const char *const[]){__VA_ARGS__}, COUNT(((const char *const[]){__VA_ARGS__}))

static const TaskInfo builtin_tasks[] = {
    {"addition", "few-shot addition of two numbers: \"2 + 4 = 6\\n4 + 2 =\" -> \"6\"", " ",
     "digits,shots", QUESTIONS("Does the continuation start with the correct sum?"), gen_addition,
     NULL, 0},
    {"json", "a small JSON document cut mid-way; the answer is the rest (separator \"\")", "", NULL,
     QUESTIONS("Does the continuation complete the JSON document correctly?"), gen_json, NULL, 0},
    {"facts", "well-known facts as sentence completions: \"Madrid is the capital of\" -> \"Spain\"",
     " ", NULL, QUESTIONS("Does the continuation state the correct fact?"), NULL, fact_items,
     COUNT(fact_items)},
    {"facts-pairs",
     "facts with a corrupted prompt of the same token length for activation patching: \"The Eiffel "
     "Tower is located in the city of\" -> \"Paris\" vs \"The Colosseum ...\" -> \"Rome\"",
     " ", NULL, QUESTIONS("Does the continuation state the correct fact?"), NULL, fact_pair_items,
     COUNT(fact_pair_items)},
    {"counting", "continue a count by 1s, 2s, 5s or 10s: \"1, 2, 3, 4,\" -> \"5\"", " ", NULL,
     QUESTIONS("Does the continuation give the next number of the sequence?"), gen_counting, NULL,
     0},
    {"days", "continue the days of the week or the months: \"Monday, Tuesday,\" -> \"Wednesday\"",
     " ", NULL, QUESTIONS("Does the continuation name the next day or month?"), gen_days, NULL, 0},
    {"opposites",
     "antonyms, few-shot \"big -> small\\nup ->\" -> \"down\" (0 shots: \"hot is the opposite of\")",
     " ", "shots", QUESTIONS("Does the continuation give the opposite word?"), gen_opposites, NULL,
     0},
    {"alphabet", "continue the alphabet: \"A B C D\" -> \"E\"", " ", NULL,
     QUESTIONS("Does the continuation give the next letter?"), gen_alphabet, NULL, 0},
    {"plural", "plural nouns, few-shot: \"one dog, two dogs\\none cat, two\" -> \"cats\"", " ",
     "shots", QUESTIONS("Does the continuation give the correct plural?"), gen_plural, NULL, 0},
    {"copy", "induction: a list of random words repeated; the answer is the next word", " ", NULL,
     QUESTIONS("Does the continuation repeat the next word of the list?"), gen_copy, NULL, 0},
};

int tasks_count(void) { return COUNT(builtin_tasks); }

const TaskInfo *tasks_get(int i) {
    return i >= 0 && i < COUNT(builtin_tasks) ? &builtin_tasks[i] : NULL;
}

const TaskInfo *tasks_find_in(const TaskInfo *tasks, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(tasks[i].name, name) == 0) return &tasks[i];
    return NULL;
}

const TaskInfo *tasks_find(const char *name) {
    return tasks_find_in(builtin_tasks, COUNT(builtin_tasks), name);
}

// ----------------------------------------------------------------------------- examples

void tasks_options_default(TaskOptions *o) {
    o->digits = 1;
    o->shots = 3;
}

int tasks_options_check(const TaskOptions *o, char *err, size_t errlen) {
    if (o->digits < 1 || o->digits > TASKS_MAX_DIGITS)
        return fail(err, errlen, "digits must be 1..%d, not %d", TASKS_MAX_DIGITS, o->digits);
    if (o->shots < 0 || o->shots > TASKS_MAX_SHOTS)
        return fail(err, errlen, "shots must be 0..%d, not %d", TASKS_MAX_SHOTS, o->shots);
    return 0;
}

int tasks_default_n(const TaskInfo *t) { return t->gen ? TASKS_DEFAULT_N : t->n_items; }

// Prompts already made, as 64-bit hashes in an open-addressing table (0 marks a free slot).
typedef struct {
    uint64_t *slot;   // (cap) cap a power of two
    size_t cap, n;
    int on;   // still avoiding repeats?
} SeenSet;

static uint64_t hash_text(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h ? h : 1;
}

// 1 when h was new (and is now in the set), 0 when it was there already.
static int seen_add(SeenSet *s, uint64_t h) {
    if (2 * (s->n + 1) > s->cap) {
        SeenSet g = {xcalloc(s->cap ? 2 * s->cap : 64, sizeof(uint64_t)), s->cap ? 2 * s->cap : 64,
                     0, 1};
        for (size_t i = 0; i < s->cap; i++)
            if (s->slot[i]) seen_add(&g, s->slot[i]);
        free(s->slot);
        s->slot = g.slot;
        s->cap = g.cap;
    }
    size_t i = (size_t)mix64(h) & (s->cap - 1);
    for (; s->slot[i]; i = (i + 1) & (s->cap - 1))
        if (s->slot[i] == h) return 0;
    s->slot[i] = h;
    s->n++;
    return 1;
}

// Draw example e, redrawing (from the same stream) while its prompt repeats an earlier one.
// When TASKS_MAX_REDRAWS draws in a row repeat, the task's space is spent: repeats are
// allowed from then on.
static void generate_one(const TaskInfo *t, Rng *r, const TaskOptions *o, TaskExample *e,
                         SeenSet *seen) {
    for (int draw = 0;; draw++) {
        t->gen(t, r, o, e);
        if (!seen->on || seen_add(seen, hash_text(e->prompt))) return;
        if (draw == TASKS_MAX_REDRAWS) {
            seen->on = 0;
            return;
        }
        free(e->prompt);
        free(e->answer);
        free(e->separator);
        e->prompt = e->answer = e->separator = NULL;
    }
}

int tasks_generate(const TaskInfo *t, int n, uint64_t seed, const TaskOptions *opt,
                   TaskExample **out, char *err, size_t errlen) {
    *out = NULL;
    TaskOptions def;
    tasks_options_default(&def);
    if (!opt) opt = &def;
    if (tasks_options_check(opt, err, errlen) != 0) return -1;
    if (n < 0) n = tasks_default_n(t);
    if (!t->gen && t->n_items == 0 && n > 0)
        return fail(err, errlen, "task %s has no examples", t->name);
    if (n == 0) return 0;
    TaskExample *ex = xcalloc((size_t)n, sizeof *ex);
    SeenSet seen = {.on = 1};
    for (int i = 0; i < n; i++) {
        ex[i].index = i;
        if (t->gen) {
            Rng r;
            example_rng(&r, seed, t->name, i);
            generate_one(t, &r, opt, &ex[i], &seen);
        } else {
            const TaskItem *it = &t->items[i % t->n_items];
            ex[i].prompt = xstrdup(it->prompt);
            ex[i].answer = xstrdup(it->answer);
            if (it->separator) ex[i].separator = xstrdup(it->separator);
            if (it->corrupt_prompt) ex[i].corrupt_prompt = xstrdup(it->corrupt_prompt);
            if (it->wrong_answer) ex[i].wrong_answer = xstrdup(it->wrong_answer);
        }
        if (!ex[i].separator) ex[i].separator = xstrdup(t->separator ? t->separator : " ");
    }
    free(seen.slot);
    *out = ex;
    return n;
}

void tasks_free_examples(TaskExample *ex, int n) {
    if (!ex) return;
    for (int i = 0; i < n; i++) {
        free(ex[i].prompt);
        free(ex[i].answer);
        free(ex[i].separator);
        free(ex[i].corrupt_prompt);
        free(ex[i].wrong_answer);
    }
    free(ex);
}

static void write_questions(JsonBuf *b, const TaskInfo *t) {
    if (t->n_eval <= 0) return;
    jb_key(b, "eval_questions");
    jb_puts(b, "[");
    for (int q = 0; q < t->n_eval; q++) {
        jb_sep(b);
        jb_cstr(b, t->eval_questions[q]);
    }
    jb_puts(b, "]");
}

void tasks_write_example(JsonBuf *lines, const TaskInfo *t, const TaskExample *e) {
    JsonBuf id = {0}, b = {0};
    jb_puts(&id, t->name);
    jb_printf(&id, "-%d", e->index);
    jb_puts(&b, "{");
    jb_key(&b, "id");
    jb_cstr(&b, id.buf);
    jb_free(&id);
    jb_key(&b, "task");
    jb_cstr(&b, t->name);
    jb_key(&b, "description");
    jb_cstr(&b, t->description ? t->description : "");
    jb_key(&b, "prompt");
    jb_cstr(&b, e->prompt);
    jb_key(&b, "answer");
    jb_cstr(&b, e->answer);
    jb_key(&b, "separator");
    jb_cstr(&b, e->separator ? e->separator : " ");
    if (e->corrupt_prompt) jb_key(&b, "corrupt_prompt"), jb_cstr(&b, e->corrupt_prompt);
    if (e->wrong_answer) jb_key(&b, "wrong_answer"), jb_cstr(&b, e->wrong_answer);
    write_questions(&b, t);
    jb_puts(&b, "}\n");
    jb_raw(lines, b.buf, b.len);
    jb_free(&b);
}

void tasks_write_info(JsonBuf *lines, const TaskInfo *t) {
    JsonBuf b = {0};
    jb_puts(&b, "{");
    jb_key(&b, "name");
    jb_cstr(&b, t->name);
    jb_key(&b, "description");
    jb_cstr(&b, t->description ? t->description : "");
    if (t->gen) {
        jb_key(&b, "generated");
        jb_puts(&b, "true");
    } else {
        jb_key(&b, "n_available");
        jb_int(&b, t->n_items);
    }
    if (t->options) {   // "digits,shots" -> ["digits","shots"]
        jb_key(&b, "options");
        jb_puts(&b, "[");
        for (const char *p = t->options; *p;) {
            size_t n = strcspn(p, ",");
            jb_sep(&b);
            jb_string(&b, p, n);
            p += n + (p[n] == ',');
        }
        jb_puts(&b, "]");
    }
    write_questions(&b, t);
    jb_puts(&b, "}\n");
    jb_raw(lines, b.buf, b.len);
    jb_free(&b);
}

// ----------------------------------------------------------------------------- import

static void add_problem(TaskSet *set, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_problem(TaskSet *set, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    set->problems = xrealloc(set->problems, (size_t)(set->n_problems + 1) * sizeof(char *));
    set->problems[set->n_problems++] = xstrdup(msg);
}

// A string member `key` of object obj into *out (malloc'd).  1 when read, 0 when absent,
// -1 when present but not a string or holding a NUL character.
static int member_string(const JsonDoc *d, int obj, const char *key, char **out) {
    *out = NULL;
    int v = json_obj_get(d, obj, key);
    if (v < 0) return 0;
    size_t n;
    if (json_str(d, v, out, &n) != 0 || strlen(*out) != n) {
        free(*out);
        *out = NULL;
        return -1;
    }
    return 1;
}

static void free_info(TaskInfo *t) {
    free((void *)t->name);
    free((void *)t->description);
    for (int q = 0; q < t->n_eval; q++) free((void *)t->eval_questions[q]);
    free((void *)t->eval_questions);
    for (int j = 0; j < t->n_items; j++) {
        free((void *)t->items[j].prompt);
        free((void *)t->items[j].answer);
        free((void *)t->items[j].separator);
        free((void *)t->items[j].corrupt_prompt);
        free((void *)t->items[j].wrong_answer);
    }
    free((void *)t->items);
    memset(t, 0, sizeof *t);
}

// Example j (token ex) of task ti into *it; -1 with the reason in why when not valid.
static int parse_item(const JsonDoc *d, int ex, TaskItem *it, const char **why) {
    char *prompt = NULL, *answer = NULL, *sep = NULL, *corrupt = NULL, *wrong = NULL;
    memset(it, 0, sizeof *it);
    if (json_type(d, ex) != JSMN_OBJECT) {
        *why = "not an object";
        return -1;
    }
    if (member_string(d, ex, "prompt", &prompt) != 1) *why = "\"prompt\" missing or not a string";
    else if (member_string(d, ex, "answer", &answer) != 1)
        *why = "\"answer\" missing or not a string";
    else if (answer[0] == '\0') *why = "\"answer\" is empty";
    else if (member_string(d, ex, "separator", &sep) < 0) *why = "\"separator\" is not a string";
    else if (member_string(d, ex, "corrupt_prompt", &corrupt) < 0)
        *why = "\"corrupt_prompt\" is not a string";
    else if (member_string(d, ex, "wrong_answer", &wrong) < 0)
        *why = "\"wrong_answer\" is not a string";
    else {
        *it = (TaskItem){prompt, answer, sep, corrupt, wrong};
        return 0;
    }
    free(prompt);
    free(answer);
    free(sep);
    free(corrupt);
    free(wrong);
    return -1;
}

// Task ti (token obj) into *t; -1 (problem recorded, nothing kept) when not valid.
// `names` holds the names of the tasks accepted before it (a duplicate is not valid).
static int parse_task(TaskSet *set, const JsonDoc *d, int obj, int ti, TaskInfo *t,
                      const StrMap *names) {
    memset(t, 0, sizeof *t);
    if (json_type(d, obj) != JSMN_OBJECT) {
        add_problem(set, "task %d: not an object", ti);
        return -1;
    }
    char *name = NULL;
    if (member_string(d, obj, "name", &name) != 1 || name[0] == '\0') {
        add_problem(set, "task %d: \"name\" missing or not a non-empty string", ti);
        free(name);
        return -1;
    }
    t->name = name;
    t->separator = " ";
    const char *why = NULL;
    char *desc = NULL;
    int ex = json_obj_get(d, obj, "examples"), eq = json_obj_get(d, obj, "eval_questions");
    if (strmap_find_cstr(names, name) >= 0) why = "a task of this name came before";
    else if (member_string(d, obj, "description", &desc) < 0)
        why = "\"description\" is not a string";
    else if (json_type(d, ex) != JSMN_ARRAY) why = "\"examples\" missing or not an array";
    else if (eq >= 0 && !json_is_null(d, eq) && json_type(d, eq) != JSMN_ARRAY)
        why = "\"eval_questions\" is not an array";
    t->description = desc;
    if (!why && json_type(d, eq) == JSMN_ARRAY) {
        int nq = json_size(d, eq);
        const char **qs = xcalloc((size_t)nq + 1, sizeof *qs);
        t->eval_questions = qs;
        for (int q = 0, v = eq + 1; q < nq && !why; q++, v = json_skip(d, v)) {
            char *s = NULL;
            size_t n;
            if (json_str(d, v, &s, &n) != 0 || strlen(s) != n) {
                free(s);
                why = "\"eval_questions\" holds something that is not a string";
            } else {
                qs[t->n_eval++] = s;
            }
        }
    }
    if (why) {
        add_problem(set, "task %d (%s): %s", ti, name, why);
        free_info(t);
        return -1;
    }
    int n = json_size(d, ex);
    TaskItem *items = xcalloc((size_t)n + 1, sizeof *items);
    t->items = items;
    for (int j = 0, v = ex + 1; j < n; j++, v = json_skip(d, v)) {
        if (parse_item(d, v, &items[t->n_items], &why) == 0) t->n_items++;
        else add_problem(set, "task %d (%s), example %d: %s", ti, name, j, why);
    }
    if (t->n_items == 0) {
        add_problem(set, "task %d (%s): no valid examples", ti, name);
        free_info(t);
        return -1;
    }
    return 0;
}

// ----------------------------------------------------------------------------- records

// The tasks of NDJSON example records, gathered by "task" in order of first appearance.
typedef struct {
    char *name;
    char *description;   // raw JSON of the first record's "description", or NULL
    char *questions;     // raw JSON of the first "eval_questions" array seen, or NULL
    JsonBuf examples;    // "{...},{...}" raw example objects
} RecordTask;

static char *raw_copy(const JsonDoc *d, int v) {
    size_t n;
    const char *s = json_raw(d, v, &n);
    return xstrndup(s, n);
}

// Append one record (line lineno, already parsed) to its task in *tasks.
static void record_gather(TaskSet *set, const JsonDoc *d, long lineno, RecordTask **tasks, int *n,
                          StrMap *names) {
    int err_v = json_obj_get(d, 0, "error");
    if (err_v >= 0 && !json_is_null(d, err_v)) {
        add_problem(set, "line %ld: the record carries an \"error\"", lineno);
        return;
    }
    char *name = NULL;
    int p = json_obj_get(d, 0, "prompt"), a = json_obj_get(d, 0, "answer"),
        sep = json_obj_get(d, 0, "separator");
    if (member_string(d, 0, "task", &name) != 1 || name[0] == '\0') {
        add_problem(set, "line %ld: \"task\" missing or not a non-empty string", lineno);
        free(name);
        return;
    }
    if (json_type(d, p) != JSMN_STRING || json_type(d, a) != JSMN_STRING ||
        (sep >= 0 && json_type(d, sep) != JSMN_STRING)) {
        add_problem(
            set, "line %ld (%s): \"prompt\", \"answer\" or \"separator\" missing or not a string",
            lineno, name);
        free(name);
        return;
    }
    int cp = json_obj_get(d, 0, "corrupt_prompt"), wa = json_obj_get(d, 0, "wrong_answer");
    if ((cp >= 0 && json_type(d, cp) != JSMN_STRING) ||
        (wa >= 0 && json_type(d, wa) != JSMN_STRING)) {
        add_problem(set, "line %ld (%s): \"corrupt_prompt\" or \"wrong_answer\" is not a string",
                    lineno, name);
        free(name);
        return;
    }
    int added, k = strmap_intern_cstr(names, name, &added);   // task k is entry k
    if (added) {
        if ((*n & (*n - 1)) == 0)
            *tasks = xrealloc(*tasks, (size_t)(*n ? 2 * *n : 1) *
                                          sizeof **tasks);   // n a power of two: double
        memset(&(*tasks)[k], 0, sizeof **tasks);
        (*tasks)[k].name = name;
        (*n)++;
        int desc = json_obj_get(d, 0, "description");
        if (desc >= 0) (*tasks)[k].description = raw_copy(d, desc);
    } else {
        free(name);
    }
    RecordTask *t = &(*tasks)[k];
    int q = json_obj_get(d, 0, "eval_questions");
    if (!t->questions && q >= 0 && json_type(d, q) == JSMN_ARRAY) t->questions = raw_copy(d, q);
    jb_sep(&t->examples);
    jb_puts(&t->examples, "{\"prompt\":");
    size_t len;
    const char *raw = json_raw(d, p, &len);
    jb_raw(&t->examples, raw, len);
    jb_puts(&t->examples, ",\"answer\":");
    raw = json_raw(d, a, &len);
    jb_raw(&t->examples, raw, len);
    static const char *const optional[] = {"separator", "corrupt_prompt", "wrong_answer"};
    for (size_t k = 0; k < sizeof optional / sizeof *optional; k++) {
        int v = json_obj_get(d, 0, optional[k]);
        if (v < 0) continue;
        jb_printf(&t->examples, ",\"%s\":", optional[k]);
        raw = json_raw(d, v, &len);
        jb_raw(&t->examples, raw, len);
    }
    jb_puts(&t->examples, "}");
}

// NDJSON example records (text[0..len)) into the task-list JSON `list`; every record that
// cannot be used leaves a problem naming its line.
static void records_to_list(TaskSet *set, const char *text, size_t len, JsonBuf *list) {
    RecordTask *tasks = NULL;
    int n = 0;
    StrMap names = {0};   // task name -> its number in tasks
    long lineno = 0;
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - text) : len;
        lineno++;
        const char *line = text + i;
        size_t ll = end - i;
        i = end + 1;
        if (ll > 0 && line[ll - 1] == '\r') ll--;
        size_t sp = 0;
        while (sp < ll && strchr(" \t", line[sp])) sp++;
        if (sp == ll) continue;
        JsonDoc d;
        char jerr[128];
        if (json_parse(&d, line, ll, jerr, sizeof jerr) != 0 || json_type(&d, 0) != JSMN_OBJECT)
            add_problem(set, "line %ld: not a JSON object", lineno);
        else record_gather(set, &d, lineno, &tasks, &n, &names);
        json_free(&d);
    }
    jb_puts(list, "[");
    for (int k = 0; k < n; k++) {
        jb_sep(list);
        jb_puts(list, "{");
        jb_key(list, "name");
        jb_cstr(list, tasks[k].name);
        if (tasks[k].description) {
            jb_key(list, "description");
            jb_puts(list, tasks[k].description);
        }
        if (tasks[k].questions) {
            jb_key(list, "eval_questions");
            jb_puts(list, tasks[k].questions);
        }
        jb_key(list, "examples");
        jb_puts(list, "[");
        if (tasks[k].examples.buf) jb_raw(list, tasks[k].examples.buf, tasks[k].examples.len);
        jb_puts(list, "]}");
        free(tasks[k].name);
        free(tasks[k].description);
        free(tasks[k].questions);
        jb_free(&tasks[k].examples);
    }
    jb_puts(list, "]");
    free(tasks);
    strmap_free(&names);
}

// Is the first line of text a JSON object with a "prompt" member (an example record)?
static int looks_like_record(const char *text, size_t len) {
    const char *nl = memchr(text, '\n', len);
    size_t n = nl ? (size_t)(nl - text) : len;
    JsonDoc d;
    char jerr[8];
    int yes = json_parse(&d, text, n, jerr, sizeof jerr) == 0 && json_type(&d, 0) == JSMN_OBJECT &&
              json_obj_get(&d, 0, "prompt") >= 0;
    json_free(&d);
    return yes;
}

static int list_parse(TaskSet *set, const char *text, size_t len, char *err, size_t errlen) {
    JsonDoc d;
    char jerr[256];
    if (json_parse(&d, text, len, jerr, sizeof jerr) != 0) {
        json_free(&d);
        return fail(err, errlen, "%s", jerr);
    }
    if (json_type(&d, 0) != JSMN_ARRAY) {
        json_free(&d);
        return fail(err, errlen, "a task list must be a JSON array of tasks");
    }
    int n = json_size(&d, 0);
    set->tasks = xcalloc((size_t)n + 1, sizeof *set->tasks);
    StrMap names = {0};
    for (int i = 0, v = 1; i < n; i++, v = json_skip(&d, v))
        if (parse_task(set, &d, v, i, &set->tasks[set->n], &names) == 0)
            strmap_intern_cstr(&names, set->tasks[set->n++].name, NULL);
    strmap_free(&names);
    json_free(&d);
    return 0;
}

int tasks_parse(TaskSet *set, const char *text, size_t len, char *err, size_t errlen) {
    memset(set, 0, sizeof *set);
    size_t i = 0;
    while (i < len && strchr(" \t\r\n", text[i]) && text[i]) i++;
    if (i == len || text[i] != '{' || !looks_like_record(text + i, len - i))
        return list_parse(set, text, len, err, errlen);
    JsonBuf list = {0};
    TaskSet rec = {0};
    records_to_list(&rec, text, len, &list);
    int rc = list_parse(set, list.buf, list.len, err, errlen);
    jb_free(&list);
    // the records' problems come first: they name input lines
    if (rc == 0 && rec.n_problems) {
        char **all = xcalloc((size_t)(rec.n_problems + set->n_problems), sizeof *all);
        memcpy(all, rec.problems, (size_t)rec.n_problems * sizeof *all);
        if (set->n_problems)
            memcpy(all + rec.n_problems, set->problems, (size_t)set->n_problems * sizeof *all);
        free(set->problems);
        set->problems = all;
        set->n_problems += rec.n_problems;
        free(rec.problems);
        rec.problems = NULL;
        rec.n_problems = 0;
    }
    tasks_set_free(&rec);
    return rc;
}

// All of stdin into a malloc'd NUL-terminated buffer; NULL on a read error.
static char *read_stdin(size_t *len) {
    JsonBuf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0) jb_raw(&b, chunk, n);
    if (ferror(stdin)) {
        jb_free(&b);
        return NULL;
    }
    jb_raw(&b, "", 0);
    *len = b.len;
    return b.buf;
}

int tasks_load_file(TaskSet *set, const char *path, char *err, size_t errlen) {
    memset(set, 0, sizeof *set);
    size_t len;
    int is_stdin = strcmp(path, "-") == 0;
    char *text = is_stdin ? read_stdin(&len) : read_file(path, &len);
    if (is_stdin) path = "<stdin>";
    if (!text) return fail(err, errlen, "%s: cannot read: %s", path, strerror(errno));
    char perr[256];
    int rc = tasks_parse(set, text, len, perr, sizeof perr);
    free(text);
    if (rc != 0) return fail(err, errlen, "%s: %s", path, perr);
    return 0;
}

void tasks_set_free(TaskSet *set) {
    for (int i = 0; i < set->n; i++) free_info(&set->tasks[i]);
    free(set->tasks);
    for (int i = 0; i < set->n_problems; i++) free(set->problems[i]);
    free(set->problems);
    memset(set, 0, sizeof *set);
}
