<?php
class Invoice { public $table_name = 'invoices'; }
