/* Tokeniser for rule text. String literals follow Go's rules because rules are Go expressions in
 * Traefik: `raw` (carriage returns dropped) or "interpreted" with Go escapes. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/rules/rules_internal.h"

void wh_rules_set_error(wh_rule_error *err, size_t pos, const char *fmt, ...) {
  if (!err)
    return;
  char body[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(body, sizeof body, fmt, ap);
  va_end(ap);
  err->pos = pos;
  snprintf(err->msg, sizeof err->msg, "%s at %zu", body, pos);
}

void wh_rules_lexer_init(wh_rules_lexer *lx, const char *src, size_t len) {
  lx->src = src;
  lx->len = len;
  lx->pos = 0;
}

static bool is_ident_start(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident(unsigned char c) {
  return is_ident_start(c) || (c >= '0' && c <= '9');
}

static int hexval(unsigned char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static size_t utf8_put(char *out, uint32_t cp) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Go's scanner rejects invalid UTF-8 in source text, so do we. */
size_t wh_rules_utf8_len(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  size_t len;
  uint32_t cp;
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (n < len)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
      (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
    return 0;
  return len;
}

static int lex_string(wh_rules_lexer *lx, wh_rules_tok *tok, wh_rule_error *err) {
  const unsigned char *s = (const unsigned char *)lx->src;
  size_t start = lx->pos;
  char quote = (char)s[start];
  /* Decoded text is never longer than the source text. */
  char *out = malloc(lx->len - start + 1);
  if (!out) {
    wh_rules_set_error(err, start, "out of memory");
    return -1;
  }
  size_t o = 0, i = start + 1;
  for (;;) {
    if (i >= lx->len || (quote == '"' && s[i] == '\n')) {
      wh_rules_set_error(err, start, "unterminated string");
      goto fail;
    }
    unsigned char c = s[i];
    if (c == (unsigned char)quote) {
      i++;
      break;
    }
    if (c == 0) {
      wh_rules_set_error(err, i, "NUL character not allowed in string");
      goto fail;
    }
    if (quote == '`') {
      size_t l = wh_rules_utf8_len(s + i, lx->len - i);
      if (!l) {
        wh_rules_set_error(err, i, "invalid UTF-8 in string");
        goto fail;
      }
      if (c != '\r')
        memcpy(out + o, s + i, l), o += l;
      i += l;
      continue;
    }
    if (c != '\\') {
      size_t l = wh_rules_utf8_len(s + i, lx->len - i);
      if (!l) {
        wh_rules_set_error(err, i, "invalid UTF-8 in string");
        goto fail;
      }
      memcpy(out + o, s + i, l);
      o += l;
      i += l;
      continue;
    }
    size_t esc = i;
    if (i + 1 >= lx->len) {
      wh_rules_set_error(err, start, "unterminated string");
      goto fail;
    }
    unsigned char e = s[i + 1];
    i += 2;
    switch (e) {
    case 'a':
      out[o++] = '\a';
      break;
    case 'b':
      out[o++] = '\b';
      break;
    case 'f':
      out[o++] = '\f';
      break;
    case 'n':
      out[o++] = '\n';
      break;
    case 'r':
      out[o++] = '\r';
      break;
    case 't':
      out[o++] = '\t';
      break;
    case 'v':
      out[o++] = '\v';
      break;
    case '\\':
      out[o++] = '\\';
      break;
    case '"':
      out[o++] = '"';
      break;
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7': {
      unsigned v = e - '0';
      for (int k = 0; k < 2; k++) {
        if (i >= lx->len || s[i] < '0' || s[i] > '7') {
          wh_rules_set_error(err, esc, "invalid escape sequence in string");
          goto fail;
        }
        v = v * 8 + (s[i++] - '0');
      }
      if (v > 255) {
        wh_rules_set_error(err, esc, "invalid escape sequence in string");
        goto fail;
      }
      if (v == 0) {
        wh_rules_set_error(err, esc, "NUL character not allowed in string");
        goto fail;
      }
      out[o++] = (char)v;
      break;
    }
    case 'x':
    case 'u':
    case 'U': {
      int nd = e == 'x' ? 2 : e == 'u' ? 4 : 8;
      uint32_t v = 0;
      for (int k = 0; k < nd; k++) {
        int h = i < lx->len ? hexval(s[i]) : -1;
        if (h < 0) {
          wh_rules_set_error(err, esc, "invalid escape sequence in string");
          goto fail;
        }
        v = v * 16 + (uint32_t)h;
        i++;
      }
      if (v == 0) {
        wh_rules_set_error(err, esc, "NUL character not allowed in string");
        goto fail;
      }
      if (e == 'x') {
        out[o++] = (char)v;
      } else {
        if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
          wh_rules_set_error(err, esc, "invalid Unicode code point in string");
          goto fail;
        }
        /* At most 4 output bytes for 6 or 10 source bytes: stays within the buffer. */
        o += utf8_put(out + o, v);
      }
      break;
    }
    default:
      wh_rules_set_error(err, esc, "invalid escape sequence in string");
      goto fail;
    }
  }
  out[o] = '\0';
  tok->kind = WH_RTOK_STRING;
  tok->pos = start;
  tok->len = i - start;
  tok->str = out;
  lx->pos = i;
  return 0;
fail:
  free(out);
  return -1;
}

int wh_rules_lexer_next(wh_rules_lexer *lx, wh_rules_tok *tok, wh_rule_error *err) {
  const unsigned char *s = (const unsigned char *)lx->src;
  tok->str = NULL;
  while (lx->pos < lx->len &&
         (s[lx->pos] == ' ' || s[lx->pos] == '\t' || s[lx->pos] == '\n' || s[lx->pos] == '\r'))
    lx->pos++;
  size_t p = lx->pos;
  tok->pos = p;
  tok->len = 1;
  if (p >= lx->len) {
    tok->kind = WH_RTOK_EOF;
    tok->len = 0;
    return 0;
  }
  unsigned char c = s[p];
  switch (c) {
  case '(':
    tok->kind = WH_RTOK_LPAREN;
    lx->pos++;
    return 0;
  case ')':
    tok->kind = WH_RTOK_RPAREN;
    lx->pos++;
    return 0;
  case ',':
    tok->kind = WH_RTOK_COMMA;
    lx->pos++;
    return 0;
  case '!':
    tok->kind = WH_RTOK_NOT;
    lx->pos++;
    return 0;
  case '&':
  case '|':
    if (p + 1 < lx->len && s[p + 1] == c) {
      tok->kind = c == '&' ? WH_RTOK_AND : WH_RTOK_OR;
      tok->len = 2;
      lx->pos += 2;
      return 0;
    }
    wh_rules_set_error(err, p, "unexpected '%c' (did you mean '%c%c'?)", c, c, c);
    return -1;
  case '`':
  case '"':
    return lex_string(lx, tok, err);
  case '\'':
    wh_rules_set_error(err, p, "single quotes are not allowed, use backticks or double quotes");
    return -1;
  default:
    break;
  }
  if (is_ident_start(c)) {
    size_t e = p;
    while (e < lx->len && is_ident(s[e]))
      e++;
    tok->kind = WH_RTOK_IDENT;
    tok->len = e - p;
    lx->pos = e;
    return 0;
  }
  if (c >= 0x21 && c < 0x7f)
    wh_rules_set_error(err, p, "unexpected character '%c'", c);
  else
    wh_rules_set_error(err, p, "unexpected character 0x%02x", c);
  return -1;
}
