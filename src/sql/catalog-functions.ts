// PostgreSQL's own functions that statements call by name, not prefixed pg_ (those count as
// built-ins by their name alone, see query-scan.ts): a call of one leaves no session state and
// sets no setting, so pgtide need not read a transaction's settings back, nor probe its
// session, as after code it cannot see into. Read from PostgreSQL 18's catalog: the functions,
// aggregates and window functions of pg_catalog, less those only the server calls (type input
// and output, operators' and aggregates' parts, index support, handlers, what returns internal
// or trigger), less set_config and setseed, which query-scan.ts follows as session state, and
// less pg_upgrade's binary_upgrade_* (they set the backend's next OIDs).
// A function a schema on the search_path before pg_catalog redefines under one of these names
// is taken for PostgreSQL's.
export const CATALOG_FUNCTIONS: ReadonlySet<string> = new Set(
  `
  abbrev abs acldefault aclexplode acos acosd acosh age amvalidate any_value area array_agg
  array_dims array_fill array_length array_lower array_ndims array_position array_positions
  array_remove array_replace array_reverse array_sample array_shuffle array_sort array_to_json
  array_to_string array_to_tsvector array_upper ascii asin asind asinh atan atan2 atan2d atand
  atanh avg big5_to_euc_tw big5_to_mic big5_to_utf8 bit bit_and bit_count bit_length bit_or
  bit_xor bool bool_and bool_or box bpchar brin_desummarize_range brin_summarize_new_values
  brin_summarize_range broadcast btrim bytea cardinality casefold cash_words cbrt ceil ceiling
  center char char_length character_length chr cidr circle clock_timestamp col_description concat
  concat_ws convert convert_from convert_to corr cos cosd cosh cot cotd count covar_pop covar_samp
  crc32 crc32c cume_dist current_database current_query current_schema current_schemas
  current_setting current_user currtid2 currval cursor_to_xml cursor_to_xmlschema database_to_xml
  database_to_xml_and_xmlschema database_to_xmlschema date date_add date_bin date_part
  date_subtract date_trunc datemultirange daterange daterange_canonical daterange_subdiff decode
  degrees dense_rank dexp diagonal diameter div dlog1 dlog10 dround dtrunc encode enum_first
  enum_in enum_last enum_out enum_range enum_recv enum_send erf erfc euc_cn_to_mic euc_cn_to_utf8
  euc_jis_2004_to_shift_jis_2004 euc_jis_2004_to_utf8 euc_jp_to_mic euc_jp_to_sjis euc_jp_to_utf8
  euc_kr_to_mic euc_kr_to_utf8 euc_tw_to_big5 euc_tw_to_mic euc_tw_to_utf8 every exp extract
  factorial family first_value float4 float8 floor fmgr_c_validator fmgr_internal_validator
  fmgr_sql_validator format format_type gamma gb18030_to_utf8 gbk_to_utf8 gcd gen_random_uuid
  generate_series generate_subscripts get_bit get_byte get_current_ts_config getdatabaseencoding
  getpgusername gin_clean_pending_list has_any_column_privilege has_column_privilege
  has_database_privilege has_foreign_data_wrapper_privilege has_function_privilege
  has_language_privilege has_largeobject_privilege has_parameter_privilege has_schema_privilege
  has_sequence_privilege has_server_privilege has_table_privilege has_tablespace_privilege
  has_type_privilege hashvarlena hashvarlenaextended height host hostmask icu_unicode_version
  inet_client_addr inet_client_port inet_server_addr inet_server_port initcap int2 int4 int4inc
  int4multirange int4range int4range_canonical int4range_subdiff int8 int8_sum int8multirange
  int8range int8range_canonical int8range_subdiff interval is_normalized isclosed isfinite
  ishorizontal iso8859_1_to_utf8 iso8859_to_utf8 iso_to_koi8r iso_to_mic iso_to_win1251
  iso_to_win866 isopen isparallel isperp isvertical johab_to_utf8 json_agg json_agg_strict
  json_array_elements json_array_elements_text json_array_length json_build_array
  json_build_object json_each json_each_text json_object json_object_agg json_object_agg_strict
  json_object_agg_unique json_object_agg_unique_strict json_object_keys json_populate_record
  json_populate_recordset json_strip_nulls json_to_record json_to_recordset json_to_tsvector
  json_typeof jsonb_agg jsonb_agg_strict jsonb_array_elements jsonb_array_elements_text
  jsonb_array_length jsonb_build_array jsonb_build_object jsonb_each jsonb_each_text jsonb_insert
  jsonb_object jsonb_object_agg jsonb_object_agg_strict jsonb_object_agg_unique
  jsonb_object_agg_unique_strict jsonb_object_keys jsonb_path_exists jsonb_path_exists_tz
  jsonb_path_match jsonb_path_match_tz jsonb_path_query jsonb_path_query_array
  jsonb_path_query_array_tz jsonb_path_query_first jsonb_path_query_first_tz jsonb_path_query_tz
  jsonb_populate_record jsonb_populate_record_valid jsonb_populate_recordset jsonb_pretty
  jsonb_set jsonb_set_lax jsonb_strip_nulls jsonb_to_record jsonb_to_recordset jsonb_to_tsvector
  jsonb_typeof justify_days justify_hours justify_interval koi8r_to_iso koi8r_to_mic koi8r_to_utf8
  koi8r_to_win1251 koi8r_to_win866 koi8u_to_utf8 lag last_value lastval latin1_to_mic
  latin2_to_mic latin2_to_win1250 latin3_to_mic latin4_to_mic lcm lead left length lgamma like
  like_escape line ln lo_close lo_creat lo_create lo_export lo_from_bytea lo_get lo_import
  lo_lseek lo_lseek64 lo_open lo_put lo_tell lo_tell64 lo_truncate lo_truncate64 lo_unlink log
  log10 loread lower lower_inc lower_inf lowrite lpad lseg ltrim macaddr macaddr8 macaddr8_set7bit
  make_date make_interval make_time make_timestamp make_timestamptz makeaclitem masklen max md5
  mic_to_big5 mic_to_euc_cn mic_to_euc_jp mic_to_euc_kr mic_to_euc_tw mic_to_iso mic_to_koi8r
  mic_to_latin1 mic_to_latin2 mic_to_latin3 mic_to_latin4 mic_to_sjis mic_to_win1250
  mic_to_win1251 mic_to_win866 min min_scale mod mode money multirange mxid_age name nameconcatoid
  netmask network nextval normalize notlike now npoints nth_value ntile num_nonnulls num_nulls
  numeric numeric_div_trunc numeric_exp numeric_inc numeric_ln numeric_log numeric_sqrt
  nummultirange numnode numrange numrange_subdiff obj_description octet_length oid oidvectortypes
  overlaps overlay parse_ident path pclose percent_rank percentile_cont percentile_disc
  phraseto_tsquery pi plainto_tsquery plpgsql_inline_handler plpgsql_validator point polygon popen
  position postgresql_fdw_validator pow power prsd_end query_to_xml query_to_xml_and_xmlschema
  query_to_xmlschema querytree quote_ident quote_literal quote_nullable radians radius random
  random_normal range_agg range_intersect_agg rank regclass regexp_count regexp_instr regexp_like
  regexp_match regexp_matches regexp_replace regexp_split_to_array regexp_split_to_table
  regexp_substr regr_avgx regr_avgy regr_count regr_intercept regr_r2 regr_slope regr_sxx regr_sxy
  regr_syy repeat replace reverse right round row_number row_security_active row_to_json rpad
  rtrim satisfies_hash_partition scale schema_to_xml schema_to_xml_and_xmlschema
  schema_to_xmlschema session_user set_bit set_byte set_masklen setval setweight sha224 sha256
  sha384 sha512 shell_in shell_out shift_jis_2004_to_euc_jis_2004 shift_jis_2004_to_utf8
  shobj_description sign similar_escape similar_to_escape sin sind sinh sjis_to_euc_jp sjis_to_mic
  sjis_to_utf8 slope split_part sqrt statement_timestamp stddev stddev_pop stddev_samp string_agg
  string_to_array string_to_table strip strpos substr substring sum system_user table_to_xml
  table_to_xml_and_xmlschema table_to_xmlschema tan tand tanh text textlen time timeofday
  timestamp timestamptz timetz timezone to_ascii to_bin to_char to_date to_hex to_json to_jsonb
  to_number to_oct to_regclass to_regcollation to_regnamespace to_regoper to_regoperator
  to_regproc to_regprocedure to_regrole to_regtype to_regtypemod to_timestamp to_tsquery
  to_tsvector transaction_timestamp translate trim_array trim_scale trunc ts_debug ts_delete
  ts_filter ts_headline ts_lexize ts_parse ts_rank ts_rank_cd ts_rewrite ts_stat ts_token_type
  tsmultirange tsrange tsrange_subdiff tstzmultirange tstzrange tstzrange_subdiff
  tsvector_to_array txid_current txid_current_if_assigned txid_current_snapshot txid_snapshot_xip
  txid_snapshot_xmax txid_snapshot_xmin txid_status txid_visible_in_snapshot uhc_to_utf8
  unicode_assigned unicode_version unistr unnest upper upper_inc upper_inf utf8_to_big5
  utf8_to_euc_cn utf8_to_euc_jis_2004 utf8_to_euc_jp utf8_to_euc_kr utf8_to_euc_tw utf8_to_gb18030
  utf8_to_gbk utf8_to_iso8859 utf8_to_iso8859_1 utf8_to_johab utf8_to_koi8r utf8_to_koi8u
  utf8_to_shift_jis_2004 utf8_to_sjis utf8_to_uhc utf8_to_win uuid_extract_timestamp
  uuid_extract_version uuidv4 uuidv7 var_pop var_samp varbit varchar variance version
  websearch_to_tsquery width width_bucket win1250_to_latin2 win1250_to_mic win1251_to_iso
  win1251_to_koi8r win1251_to_mic win1251_to_win866 win866_to_iso win866_to_koi8r win866_to_mic
  win866_to_win1251 win_to_utf8 xid xml xml_is_well_formed xml_is_well_formed_content
  xml_is_well_formed_document xmlagg xmlcomment xmlexists xmltext xmlvalidate xpath xpath_exists
`
    .split(/\s+/)
    .filter((name) => name !== ''),
);
