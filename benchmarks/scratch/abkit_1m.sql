WITH "t7" AS (
  SELECT
    "t4"."unit_id",
    MIN("t4"."exposed_at") AS "t0",
    ARG_MIN_NULL("t4"."variant", "t4"."exposed_at") AS "variant",
    CAST(MIN("t4"."variant") <> MAX("t4"."variant") AS BIGINT) + 1 AS "n_variants",
    COUNT(*) AS "n_rows",
    ARG_MIN_NULL("t4"."channel", "t4"."exposed_at") AS "channel"
  FROM (
    SELECT
      "t0"."unit_id",
      "t0"."variant",
      "t0"."exposed_at",
      COALESCE("t0"."channel", '(null)') AS "channel"
    FROM "ibis_read_parquet_4wnzxabbezgqdgmsuuwldrkrza" AS "t0"
    WHERE
      "t0"."unit_id" IS NOT NULL
      AND "t0"."variant" IS NOT NULL
      AND "t0"."exposed_at" IS NOT NULL
      AND "t0"."exposed_at" <= MAKE_TIMESTAMPTZ(2024, 4, 15, 0, 0, 0.0, 'UTC')
  ) AS "t4"
  GROUP BY
    1
)
SELECT
  "t24"."_status",
  "t24"."variant",
  "t24"."channel",
  "t24"."_age",
  "t24"."n_units",
  "t24"."retention_d1__sum",
  "t24"."retention_d7__sum",
  "t24"."retention_d30__sum",
  "t24"."curve_d0__sum",
  "t24"."curve_d1__sum",
  "t24"."curve_d2__sum",
  "t24"."curve_d3__sum",
  "t24"."curve_d4__sum",
  "t24"."curve_d5__sum",
  "t24"."curve_d6__sum",
  "t24"."curve_d7__sum",
  "t24"."curve_d8__sum",
  "t24"."curve_d9__sum",
  "t24"."curve_d10__sum",
  "t24"."curve_d11__sum",
  "t24"."curve_d12__sum",
  "t24"."curve_d13__sum",
  "t24"."curve_d14__sum",
  "t24"."curve_d15__sum",
  "t24"."curve_d16__sum",
  "t24"."curve_d17__sum",
  "t24"."curve_d18__sum",
  "t24"."curve_d19__sum",
  "t24"."curve_d20__sum",
  "t24"."curve_d21__sum",
  "t24"."curve_d22__sum",
  "t24"."curve_d23__sum",
  "t24"."curve_d24__sum",
  "t24"."curve_d25__sum",
  "t24"."curve_d26__sum",
  "t24"."curve_d27__sum",
  "t24"."curve_d28__sum",
  "t24"."curve_d29__sum",
  "t24"."curve_d30__sum",
  "t24"."n_rows",
  "t24"."e_rows",
  "t24"."e_null_ids",
  "t24"."e_null_times",
  "t24"."e_unexposed",
  "t24"."e_before",
  "t24"."e_after",
  "t8"."x_rows",
  "t8"."x_ids",
  "t8"."x_null_ids",
  "t8"."x_null_variants",
  "t8"."x_null_times",
  "t8"."x_after",
  "t8"."x_min"
FROM (
  SELECT
    "t22"."_status",
    "t22"."variant",
    "t22"."channel",
    "t22"."_age",
    COUNT(*) AS "n_units",
    SUM(COALESCE(CAST("t22"."_m_0" AS DOUBLE), 0.0)) AS "retention_d1__sum",
    SUM(COALESCE(CAST("t22"."_m_1" AS DOUBLE), 0.0)) AS "retention_d7__sum",
    SUM(COALESCE(CAST("t22"."_m_2" AS DOUBLE), 0.0)) AS "retention_d30__sum",
    SUM(COALESCE(CAST("t22"."_m_3" AS DOUBLE), 0.0)) AS "curve_d0__sum",
    SUM(COALESCE(CAST("t22"."_m_4" AS DOUBLE), 0.0)) AS "curve_d1__sum",
    SUM(COALESCE(CAST("t22"."_m_5" AS DOUBLE), 0.0)) AS "curve_d2__sum",
    SUM(COALESCE(CAST("t22"."_m_6" AS DOUBLE), 0.0)) AS "curve_d3__sum",
    SUM(COALESCE(CAST("t22"."_m_7" AS DOUBLE), 0.0)) AS "curve_d4__sum",
    SUM(COALESCE(CAST("t22"."_m_8" AS DOUBLE), 0.0)) AS "curve_d5__sum",
    SUM(COALESCE(CAST("t22"."_m_9" AS DOUBLE), 0.0)) AS "curve_d6__sum",
    SUM(COALESCE(CAST("t22"."_m_10" AS DOUBLE), 0.0)) AS "curve_d7__sum",
    SUM(COALESCE(CAST("t22"."_m_11" AS DOUBLE), 0.0)) AS "curve_d8__sum",
    SUM(COALESCE(CAST("t22"."_m_12" AS DOUBLE), 0.0)) AS "curve_d9__sum",
    SUM(COALESCE(CAST("t22"."_m_13" AS DOUBLE), 0.0)) AS "curve_d10__sum",
    SUM(COALESCE(CAST("t22"."_m_14" AS DOUBLE), 0.0)) AS "curve_d11__sum",
    SUM(COALESCE(CAST("t22"."_m_15" AS DOUBLE), 0.0)) AS "curve_d12__sum",
    SUM(COALESCE(CAST("t22"."_m_16" AS DOUBLE), 0.0)) AS "curve_d13__sum",
    SUM(COALESCE(CAST("t22"."_m_17" AS DOUBLE), 0.0)) AS "curve_d14__sum",
    SUM(COALESCE(CAST("t22"."_m_18" AS DOUBLE), 0.0)) AS "curve_d15__sum",
    SUM(COALESCE(CAST("t22"."_m_19" AS DOUBLE), 0.0)) AS "curve_d16__sum",
    SUM(COALESCE(CAST("t22"."_m_20" AS DOUBLE), 0.0)) AS "curve_d17__sum",
    SUM(COALESCE(CAST("t22"."_m_21" AS DOUBLE), 0.0)) AS "curve_d18__sum",
    SUM(COALESCE(CAST("t22"."_m_22" AS DOUBLE), 0.0)) AS "curve_d19__sum",
    SUM(COALESCE(CAST("t22"."_m_23" AS DOUBLE), 0.0)) AS "curve_d20__sum",
    SUM(COALESCE(CAST("t22"."_m_24" AS DOUBLE), 0.0)) AS "curve_d21__sum",
    SUM(COALESCE(CAST("t22"."_m_25" AS DOUBLE), 0.0)) AS "curve_d22__sum",
    SUM(COALESCE(CAST("t22"."_m_26" AS DOUBLE), 0.0)) AS "curve_d23__sum",
    SUM(COALESCE(CAST("t22"."_m_27" AS DOUBLE), 0.0)) AS "curve_d24__sum",
    SUM(COALESCE(CAST("t22"."_m_28" AS DOUBLE), 0.0)) AS "curve_d25__sum",
    SUM(COALESCE(CAST("t22"."_m_29" AS DOUBLE), 0.0)) AS "curve_d26__sum",
    SUM(COALESCE(CAST("t22"."_m_30" AS DOUBLE), 0.0)) AS "curve_d27__sum",
    SUM(COALESCE(CAST("t22"."_m_31" AS DOUBLE), 0.0)) AS "curve_d28__sum",
    SUM(COALESCE(CAST("t22"."_m_32" AS DOUBLE), 0.0)) AS "curve_d29__sum",
    SUM(COALESCE(CAST("t22"."_m_33" AS DOUBLE), 0.0)) AS "curve_d30__sum",
    SUM("t22"."n_rows") AS "n_rows",
    SUM("t22"."e_rows") AS "e_rows",
    SUM("t22"."e_null_ids") AS "e_null_ids",
    SUM("t22"."e_null_times") AS "e_null_times",
    SUM("t22"."e_unexposed") AS "e_unexposed",
    SUM("t22"."e_before") AS "e_before",
    SUM("t22"."e_after") AS "e_after"
  FROM (
    SELECT
      "t21"."unit_id",
      "t21"."t0",
      "t21"."variant",
      "t21"."n_variants",
      "t21"."n_rows",
      "t21"."channel",
      "t21"."_eu",
      "t21"."e_rows",
      "t21"."e_ts",
      "t21"."e_before",
      "t21"."e_after",
      "t21"."_mask0",
      "t21"."_m_0",
      "t21"."_m_1",
      "t21"."_m_2",
      "t21"."_m_3",
      "t21"."_m_4",
      "t21"."_m_5",
      "t21"."_m_6",
      "t21"."_m_7",
      "t21"."_m_8",
      "t21"."_m_9",
      "t21"."_m_10",
      "t21"."_m_11",
      "t21"."_m_12",
      "t21"."_m_13",
      "t21"."_m_14",
      "t21"."_m_15",
      "t21"."_m_16",
      "t21"."_m_17",
      "t21"."_m_18",
      "t21"."_m_19",
      "t21"."_m_20",
      "t21"."_m_21",
      "t21"."_m_22",
      "t21"."_m_23",
      "t21"."_m_24",
      "t21"."_m_25",
      "t21"."_m_26",
      "t21"."_m_27",
      "t21"."_m_28",
      "t21"."_m_29",
      "t21"."_m_30",
      "t21"."_m_31",
      "t21"."_m_32",
      "t21"."_m_33",
      "t21"."e_null_ids",
      "t21"."e_null_times",
      "t21"."e_unexposed",
      "t21"."_status",
      LEAST(
        CAST(FLOOR(
          (
            EPOCH_US(MAKE_TIMESTAMPTZ(2024, 4, 15, 0, 0, 0.0, 'UTC')) - EPOCH_US("t21"."t0")
          ) / (
            86400000000
          )
        ) AS BIGINT),
        31
      ) AS "_age"
    FROM (
      SELECT
        "t20"."unit_id",
        "t20"."t0",
        CASE
          WHEN CASE WHEN "t20"."n_variants" = 1 THEN 0 WHEN "t20"."n_variants" = 2 THEN 1 ELSE 2 END = 0
          THEN "t20"."variant"
          ELSE CAST(NULL AS TEXT)
        END AS "variant",
        "t20"."n_variants",
        COALESCE("t20"."n_rows", 0) AS "n_rows",
        CASE
          WHEN CASE WHEN "t20"."n_variants" = 1 THEN 0 WHEN "t20"."n_variants" = 2 THEN 1 ELSE 2 END = 0
          THEN "t20"."channel"
          ELSE CAST(NULL AS TEXT)
        END AS "channel",
        "t20"."_eu",
        "t20"."e_rows",
        "t20"."e_ts",
        COALESCE("t20"."e_before", 0) AS "e_before",
        COALESCE("t20"."e_after", 0) AS "e_after",
        "t20"."_mask0",
        "t20"."_m_0",
        "t20"."_m_1",
        "t20"."_m_2",
        "t20"."_m_3",
        "t20"."_m_4",
        "t20"."_m_5",
        "t20"."_m_6",
        "t20"."_m_7",
        "t20"."_m_8",
        "t20"."_m_9",
        "t20"."_m_10",
        "t20"."_m_11",
        "t20"."_m_12",
        "t20"."_m_13",
        "t20"."_m_14",
        "t20"."_m_15",
        "t20"."_m_16",
        "t20"."_m_17",
        "t20"."_m_18",
        "t20"."_m_19",
        "t20"."_m_20",
        "t20"."_m_21",
        "t20"."_m_22",
        "t20"."_m_23",
        "t20"."_m_24",
        "t20"."_m_25",
        "t20"."_m_26",
        "t20"."_m_27",
        "t20"."_m_28",
        "t20"."_m_29",
        "t20"."_m_30",
        "t20"."_m_31",
        "t20"."_m_32",
        "t20"."_m_33",
        CASE
          WHEN (
            "t20"."e_rows" IS NOT NULL
          ) AND (
            "t20"."_eu" IS NULL
          )
          THEN "t20"."e_rows"
          ELSE 0
        END AS "e_null_ids",
        CASE WHEN "t20"."_eu" IS NOT NULL THEN "t20"."e_rows" - "t20"."e_ts" ELSE 0 END AS "e_null_times",
        CASE
          WHEN (
            "t20"."_eu" IS NOT NULL
          ) AND (
            "t20"."t0" IS NULL
          )
          THEN "t20"."e_rows"
          ELSE 0
        END AS "e_unexposed",
        CASE WHEN "t20"."n_variants" = 1 THEN 0 WHEN "t20"."n_variants" = 2 THEN 1 ELSE 2 END AS "_status"
      FROM (
        SELECT
          "t10"."unit_id",
          "t10"."t0",
          "t10"."variant",
          "t10"."n_variants",
          "t10"."n_rows",
          "t10"."channel",
          "t19"."_eu",
          "t19"."e_rows",
          "t19"."e_ts",
          "t19"."e_before",
          "t19"."e_after",
          "t19"."_mask0",
          "t19"."_m_0",
          "t19"."_m_1",
          "t19"."_m_2",
          "t19"."_m_3",
          "t19"."_m_4",
          "t19"."_m_5",
          "t19"."_m_6",
          "t19"."_m_7",
          "t19"."_m_8",
          "t19"."_m_9",
          "t19"."_m_10",
          "t19"."_m_11",
          "t19"."_m_12",
          "t19"."_m_13",
          "t19"."_m_14",
          "t19"."_m_15",
          "t19"."_m_16",
          "t19"."_m_17",
          "t19"."_m_18",
          "t19"."_m_19",
          "t19"."_m_20",
          "t19"."_m_21",
          "t19"."_m_22",
          "t19"."_m_23",
          "t19"."_m_24",
          "t19"."_m_25",
          "t19"."_m_26",
          "t19"."_m_27",
          "t19"."_m_28",
          "t19"."_m_29",
          "t19"."_m_30",
          "t19"."_m_31",
          "t19"."_m_32",
          "t19"."_m_33"
        FROM "t7" AS "t10"
        FULL OUTER JOIN (
          SELECT
            "t17"."unit_id" AS "_eu",
            "t17"."e_rows",
            "t17"."e_ts",
            "t17"."e_before",
            "t17"."e_after",
            "t17"."_mask0",
            CAST((
              "t17"."_mask0" & 2
            ) <> 0 AS BIGINT) AS "_m_0",
            CAST((
              "t17"."_mask0" & 128
            ) <> 0 AS BIGINT) AS "_m_1",
            CAST((
              "t17"."_mask0" & 1073741824
            ) <> 0 AS BIGINT) AS "_m_2",
            CAST((
              "t17"."_mask0" & 1
            ) <> 0 AS BIGINT) AS "_m_3",
            CAST((
              "t17"."_mask0" & 2
            ) <> 0 AS BIGINT) AS "_m_4",
            CAST((
              "t17"."_mask0" & 4
            ) <> 0 AS BIGINT) AS "_m_5",
            CAST((
              "t17"."_mask0" & 8
            ) <> 0 AS BIGINT) AS "_m_6",
            CAST((
              "t17"."_mask0" & 16
            ) <> 0 AS BIGINT) AS "_m_7",
            CAST((
              "t17"."_mask0" & 32
            ) <> 0 AS BIGINT) AS "_m_8",
            CAST((
              "t17"."_mask0" & 64
            ) <> 0 AS BIGINT) AS "_m_9",
            CAST((
              "t17"."_mask0" & 128
            ) <> 0 AS BIGINT) AS "_m_10",
            CAST((
              "t17"."_mask0" & 256
            ) <> 0 AS BIGINT) AS "_m_11",
            CAST((
              "t17"."_mask0" & 512
            ) <> 0 AS BIGINT) AS "_m_12",
            CAST((
              "t17"."_mask0" & 1024
            ) <> 0 AS BIGINT) AS "_m_13",
            CAST((
              "t17"."_mask0" & 2048
            ) <> 0 AS BIGINT) AS "_m_14",
            CAST((
              "t17"."_mask0" & 4096
            ) <> 0 AS BIGINT) AS "_m_15",
            CAST((
              "t17"."_mask0" & 8192
            ) <> 0 AS BIGINT) AS "_m_16",
            CAST((
              "t17"."_mask0" & 16384
            ) <> 0 AS BIGINT) AS "_m_17",
            CAST((
              "t17"."_mask0" & 32768
            ) <> 0 AS BIGINT) AS "_m_18",
            CAST((
              "t17"."_mask0" & 65536
            ) <> 0 AS BIGINT) AS "_m_19",
            CAST((
              "t17"."_mask0" & 131072
            ) <> 0 AS BIGINT) AS "_m_20",
            CAST((
              "t17"."_mask0" & 262144
            ) <> 0 AS BIGINT) AS "_m_21",
            CAST((
              "t17"."_mask0" & 524288
            ) <> 0 AS BIGINT) AS "_m_22",
            CAST((
              "t17"."_mask0" & 1048576
            ) <> 0 AS BIGINT) AS "_m_23",
            CAST((
              "t17"."_mask0" & 2097152
            ) <> 0 AS BIGINT) AS "_m_24",
            CAST((
              "t17"."_mask0" & 4194304
            ) <> 0 AS BIGINT) AS "_m_25",
            CAST((
              "t17"."_mask0" & 8388608
            ) <> 0 AS BIGINT) AS "_m_26",
            CAST((
              "t17"."_mask0" & 16777216
            ) <> 0 AS BIGINT) AS "_m_27",
            CAST((
              "t17"."_mask0" & 33554432
            ) <> 0 AS BIGINT) AS "_m_28",
            CAST((
              "t17"."_mask0" & 67108864
            ) <> 0 AS BIGINT) AS "_m_29",
            CAST((
              "t17"."_mask0" & 134217728
            ) <> 0 AS BIGINT) AS "_m_30",
            CAST((
              "t17"."_mask0" & 268435456
            ) <> 0 AS BIGINT) AS "_m_31",
            CAST((
              "t17"."_mask0" & 536870912
            ) <> 0 AS BIGINT) AS "_m_32",
            CAST((
              "t17"."_mask0" & 1073741824
            ) <> 0 AS BIGINT) AS "_m_33"
          FROM (
            SELECT
              "t16"."unit_id",
              COUNT(*) AS "e_rows",
              COUNT("t16"."ts") AS "e_ts",
              COUNT(*) FILTER(WHERE
                "t16"."ts" < "t16"."t0") AS "e_before",
              COUNT(*) FILTER(WHERE
                (
                  "t16"."ts" >= "t16"."t0"
                )
                AND (
                  "t16"."ts" > MAKE_TIMESTAMPTZ(2024, 4, 15, 0, 0, 0.0, 'UTC')
                )) AS "e_after",
              BIT_OR(CAST(1 AS BIGINT) << "t16"."_day") FILTER(WHERE
                (
                  "t16"."_day" IS NOT NULL
                ) AND (
                  "t16"."_day" <= 62
                )) AS "_mask0"
            FROM (
              SELECT
                "t15"."unit_id",
                "t15"."ts",
                "t15"."t0",
                "t15"."_d",
                CASE
                  WHEN (
                    "t15"."ts" >= "t15"."t0"
                  )
                  AND (
                    "t15"."ts" <= MAKE_TIMESTAMPTZ(2024, 4, 15, 0, 0, 0.0, 'UTC')
                  )
                  AND (
                    "t15"."_d" <= 30
                  )
                  THEN "t15"."_d"
                  ELSE CAST(NULL AS BIGINT)
                END AS "_day"
              FROM (
                SELECT
                  "t14"."unit_id",
                  "t14"."ts",
                  "t14"."t0",
                  CAST(FLOOR((
                    EPOCH_US("t14"."ts") - EPOCH_US("t14"."t0")
                  ) / (
                    86400000000
                  )) AS BIGINT) AS "_d"
                FROM (
                  SELECT
                    "t13"."unit_id",
                    "t13"."ts",
                    "t13"."t0"
                  FROM (
                    SELECT
                      "t5"."unit_id",
                      "t5"."ts",
                      "t12"."_fu",
                      "t12"."t0"
                    FROM (
                      SELECT
                        *
                      FROM "ibis_read_parquet_xmdynjkbxncglhdqhnch3zpk5i" AS "t1"
                    ) AS "t5"
                    LEFT OUTER JOIN (
                      SELECT
                        "t9"."unit_id" AS "_fu",
                        "t9"."t0"
                      FROM "t7" AS "t9"
                    ) AS "t12"
                      ON "t5"."unit_id" = "t12"."_fu"
                  ) AS "t13"
                ) AS "t14"
              ) AS "t15"
            ) AS "t16"
            GROUP BY
              1
          ) AS "t17"
        ) AS "t19"
          ON "t10"."unit_id" = "t19"."_eu"
      ) AS "t20"
    ) AS "t21"
  ) AS "t22"
  GROUP BY
    1,
    2,
    3,
    4
) AS "t24"
CROSS JOIN (
  SELECT
    COUNT(*) AS "x_rows",
    COUNT(DISTINCT "t3"."unit_id") AS "x_ids",
    SUM(CAST("t3"."unit_id" IS NULL AS BIGINT)) AS "x_null_ids",
    SUM(
      CAST((
        "t3"."unit_id" IS NOT NULL
      ) AND (
        "t3"."variant" IS NULL
      ) AS BIGINT)
    ) AS "x_null_variants",
    SUM(
      CAST((
        "t3"."unit_id" IS NOT NULL
      ) AND (
        "t3"."exposed_at" IS NULL
      ) AS BIGINT)
    ) AS "x_null_times",
    SUM(
      CAST("t3"."exposed_at" > MAKE_TIMESTAMPTZ(2024, 4, 15, 0, 0, 0.0, 'UTC') AS BIGINT)
    ) AS "x_after",
    MIN("t3"."exposed_at") AS "x_min"
  FROM (
    SELECT
      "t0"."unit_id",
      "t0"."variant",
      "t0"."exposed_at",
      COALESCE("t0"."channel", '(null)') AS "channel"
    FROM "ibis_read_parquet_4wnzxabbezgqdgmsuuwldrkrza" AS "t0"
  ) AS "t3"
) AS "t8"