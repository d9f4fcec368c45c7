<?php
$sugar_version = '8.6.3';
$sugar_db_version = '8.6.3';
