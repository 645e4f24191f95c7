# Builds report_page.h, the report page's template as C bytes for
# writer/report_json.c: template.html with the chart library's script and
# stylesheet (vendor/uplot/, checked against package-lock.json by
# check-vendor.mjs) and the page's own (report.js, report.css) inlined,
# the Content-Security-Policy hashes of its two scripts filled in, cut in
# two where the data goes.  Run by the build (writer/CMakeLists.txt):
#   cmake -DSRC=writer/page -DOUT=report_page.h -P writer/page/embed.cmake
# Needs nothing but CMake: no node, no network.

# The base64 text of the bytes given in hex (for the CSP's sha256-...).
function(hex_base64 hex out)
  set(alphabet "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
  string(LENGTH "${hex}" n)
  set(text "")
  set(i 0)
  while(i LESS n)
    math(EXPR left "${n} - ${i}")
    if(left GREATER 6)
      set(left 6)
    endif()
    string(SUBSTRING "${hex}" ${i} ${left} group)
    set(pad 0)
    while(left LESS 6)
      string(APPEND group "00")
      math(EXPR left "${left} + 2")
      math(EXPR pad "${pad} + 1")
    endwhile()
    math(EXPR v "0x${group}")
    foreach(shift 18 12 6 0)
      math(EXPR k "(${v} >> ${shift}) & 63")
      string(SUBSTRING "${alphabet}" ${k} 1 c)
      string(APPEND text "${c}")
    endforeach()
    if(pad GREATER 0)
      string(LENGTH "${text}" len)
      math(EXPR keep "${len} - ${pad}")
      string(SUBSTRING "${text}" 0 ${keep} text)
      foreach(unused RANGE 1 ${pad})
        string(APPEND text "=")
      endforeach()
    endif()
    math(EXPR i "${i} + 6")
  endwhile()
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

# 'sha256-<base64>' of a script's text, as the browser hashes it.
function(csp_hash text out)
  string(SHA256 hex "${text}")
  hex_base64("${hex}" b64)
  set(${out} "'sha256-${b64}'" PARENT_SCOPE)
endfunction()

# A C array of a file's bytes.
function(c_array name file out)
  file(READ "${file}" hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REGEX REPLACE "((0x..,){24})" "\\1\n    " bytes "${bytes}")
  set(${out} "static const unsigned char ${name}[] = {\n    ${bytes}\n};\n" PARENT_SCOPE)
endfunction()

file(READ "${SRC}/template.html" page)
file(READ "${SRC}/vendor/uplot/uPlot.iife.min.js" uplot_js)
file(READ "${SRC}/vendor/uplot/uPlot.min.css" uplot_css)
file(READ "${SRC}/report.js" report_js)
file(READ "${SRC}/report.css" report_css)

# Nothing inlined may end its element early or open an HTML comment.
foreach(part uplot_js report_js uplot_css report_css)
  string(TOLOWER "${${part}}" lower)
  if(lower MATCHES "</(script|style)" OR lower MATCHES "<!--")
    message(FATAL_ERROR "${part} holds '</script', '</style' or '<!--': it cannot be inlined")
  endif()
endforeach()

csp_hash("${uplot_js}" uplot_hash)
csp_hash("${report_js}" report_hash)
string(REPLACE "@SCRIPT_HASHES@" "${uplot_hash} ${report_hash}" page "${page}")
string(REPLACE "@UPLOT_CSS@" "${uplot_css}" page "${page}")
string(REPLACE "@REPORT_CSS@" "${report_css}" page "${page}")
string(REPLACE "@UPLOT_JS@" "${uplot_js}" page "${page}")
string(REPLACE "@REPORT_JS@" "${report_js}" page "${page}")

string(FIND "${page}" "@DATA@" at)
if(at LESS 0)
  message(FATAL_ERROR "template.html has no @DATA@")
endif()
string(SUBSTRING "${page}" 0 ${at} head)
math(EXPR rest "${at} + 6")
string(SUBSTRING "${page}" ${rest} -1 tail)
get_filename_component(dir "${OUT}" DIRECTORY)
file(WRITE "${dir}/report_page.head" "${head}")
file(WRITE "${dir}/report_page.tail" "${tail}")
c_array(rp_page_head "${dir}/report_page.head" head_c)
c_array(rp_page_tail "${dir}/report_page.tail" tail_c)
file(WRITE "${OUT}.tmp"
  "/* Generated from writer/page/ by writer/page/embed.cmake: do not edit.\n"
  " * The report page before and after its JSON data. */\n"
  "${head_c}${tail_c}")
file(RENAME "${OUT}.tmp" "${OUT}")
