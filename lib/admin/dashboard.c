#include "lib/admin/dashboard.h"

#include <string.h>

/* A single self-contained page. Every value shown is inserted as text
 * (textContent), never as HTML, so names from labels cannot inject markup. */
static const char page[] =
    "<!doctype html>\n"
    "<html lang=\"en\"><head><meta charset=\"utf-8\"><title>wharf dashboard</title>\n"
    "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n"
    "<style>\n"
    "body{font:14px system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}\n"
    "header{background:#14324a;color:#fff;padding:12px "
    "20px;display:flex;gap:16px;align-items:center}\n"
    "header h1{font-size:18px;margin:0}input{padding:6px 8px;border-radius:4px;border:1px solid "
    "#ccd;min-width:260px}\n"
    "main{padding:16px "
    "20px}section{background:#fff;border-radius:6px;margin-bottom:16px;padding:10px 14px;"
    "box-shadow:0 1px 2px rgba(0,0,0,.08)}\n"
    "h2{font-size:15px;margin:4px 0 8px}table{border-collapse:collapse;width:100%}\n"
    "td,th{text-align:left;padding:4px 8px;border-bottom:1px solid #eef;vertical-align:top}\n"
    ".enabled{color:#17803d}.warning{color:#b36b00}.disabled{color:#c0262d;font-weight:600}\n"
    ".err{color:#c0262d;font-size:12px}\n"
    "</style></head><body>\n"
    "<header><h1>wharf</h1><span id=\"ver\"></span><input id=\"q\" placeholder=\"search routers, "
    "services, middlewares\" aria-label=\"search\"></header>\n"
    "<main>\n"
    "<section><h2>Entry points</h2><table id=\"entrypoints\"></table></section>\n"
    "<section><h2>HTTP routers</h2><table id=\"routers\"></table></section>\n"
    "<section><h2>HTTP services</h2><table id=\"services\"></table></section>\n"
    "<section><h2>HTTP middlewares</h2><table id=\"middlewares\"></table></section>\n"
    "<section><h2>TCP routers</h2><table id=\"tcprouters\"></table></section>\n"
    "</main>\n"
    "<script>\n"
    "const base=location.pathname.replace(/\\/dashboard\\/?.*$/,'');\n"
    "function row(t,cells,cls){const tr=document.createElement('tr');"
    "cells.forEach((c,i)=>{const td=document.createElement(i===0&&cls?'td':'td');"
    "if(c instanceof Node)td.appendChild(c);else td.textContent=c==null?'':String(c);"
    "if(cls&&cls[i])td.className=cls[i];tr.appendChild(td)});t.appendChild(tr)}\n"
    "function errs(e){const d=document.createElement('div');(e.error||[]).forEach(m=>{"
    "const p=document.createElement('div');p.className='err';p.textContent=m;d.appendChild(p)});"
    "const s=document.createElement('span');s.textContent=e.status||'';s.className=e.status||'';"
    "const w=document.createElement('div');w.appendChild(s);w.appendChild(d);return w}\n"
    "async function get(p){const r=await fetch(base+p);return r.ok?r.json():[]}\n"
    "function fill(id,head,items,f){const t=document.getElementById(id);t.textContent='';"
    "row(t,head);items.forEach(e=>row(t,f(e)))}\n"
    "async function load(){const q=encodeURIComponent(document.getElementById('q').value);\n"
    "const v=await "
    "get('/api/version');document.getElementById('ver').textContent=v.Version?'v'+v.Version:'';\n"
    "fill('entrypoints',['Name','Address'],await get('/api/entrypoints'),e=>[e.name,e.address]);\n"
    "fill('routers',['Name','Rule','Entry points','Service','Middlewares','Priority','Status'],"
    "await get('/api/http/routers?search='+q),e=>[e.name,e.rule,(e.using||[]).join(', '),e.service,"
    "(e.middlewares||[]).join(', '),e.priority,errs(e)]);\n"
    "fill('services',['Name','Type','Servers','Status'],await get('/api/http/services?search='+q),"
    "e=>[e.name,e.type,Object.entries(e.serverStatus||{}).map(([u,s])=>u+' '+s).join(', ')||"
    "((e.loadBalancer||{}).servers||[]).map(s=>s.url).join(', '),errs(e)]);\n"
    "fill('middlewares',['Name','Type','Status'],await get('/api/http/middlewares?search='+q),"
    "e=>[e.name,e.type,errs(e)]);\n"
    "fill('tcprouters',['Name','Rule','Service','Status'],await get('/api/tcp/routers?search='+q),"
    "e=>[e.name,e.rule,e.service,errs(e)]);}\n"
    "document.getElementById('q').addEventListener('input',load);load();setInterval(load,5000);\n"
    "</script></body></html>\n";

void wh_dashboard_handle(const char *method, const char *path, wh_http_resp *resp) {
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
    wh_http_resp_text(resp, 405, "Method Not Allowed");
    return;
  }
  if (strcmp(path, "/") != 0 && strcmp(path, "/index.html") != 0 && strcmp(path, "") != 0) {
    wh_http_resp_text(resp, 404, "404 page not found\n");
    return;
  }
  resp->status = 200;
  wh_http_resp_header(resp, "Content-Type", "text/html; charset=utf-8");
  wh_http_resp_header(resp, "Content-Security-Policy",
                      "default-src 'self'; script-src 'unsafe-inline' 'self'; style-src "
                      "'unsafe-inline'");
  wh_strbuf_append(&resp->body, page, sizeof(page) - 1);
}
